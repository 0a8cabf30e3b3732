package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"iter"
	"mime"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"
)

// ClientConfig configures a Client.
type ClientConfig struct {
	// Address of the agent's HTTP API: "host:port" or an http:// or https://
	// URL (a path prefix is kept). Empty means $GRAPEVINE_HTTP_ADDR, else
	// DefaultAddress (127.0.0.1:7947).
	Address string
	// HTTPClient performs the requests. Nil means a client of its own. Its
	// Timeout, if set, also cuts blocking queries and streams: prefer Timeout
	// below.
	HTTPClient *http.Client
	// Timeout bounds each non-blocking request (default 10 s). A blocking
	// query gets its wait plus Timeout; a stream is bounded by its context
	// only.
	Timeout time.Duration
	// MaxResponseBytes bounds a response body and a stream event (default
	// 64 MiB: ~200k instances). Larger answers fail with ErrTooLarge.
	MaxResponseBytes int64

	// Token is the ACL token sent with every request (Authorization:
	// Bearer). Empty means the content of TokenFile, else $GRAPEVINE_HTTP_TOKEN_FILE's
	// content, else $GRAPEVINE_HTTP_TOKEN.
	Token string
	// TokenFile holds the token (surrounding white space trimmed).
	TokenFile string
	// CAFile is a PEM bundle of the CAs that verify the agent's certificate
	// (default $GRAPEVINE_CACERT, else the system's). An address without a
	// scheme is https:// when any TLS file is set; an explicit http://
	// address ignores the TLS files.
	CAFile string
	// ClientCert and ClientKey are a PEM certificate and key presented to an
	// agent that requires them (verify_incoming; defaults
	// $GRAPEVINE_CLIENT_CERT, $GRAPEVINE_CLIENT_KEY). Not with HTTPClient.
	ClientCert string
	ClientKey  string
}

// DefaultClientConfig returns the defaults; Address stays empty so NewClient
// consults $GRAPEVINE_HTTP_ADDR.
func DefaultClientConfig() ClientConfig {
	return ClientConfig{
		Timeout:          10 * time.Second, // a local agent answers in microseconds; 10 s means it is wedged
		MaxResponseBytes: 64 << 20,         // far above any sane catalog, far below a memory problem
	}
}

// Validate checks the config (after defaults are applied by NewClient).
func (c ClientConfig) Validate() error {
	if c.Timeout < 0 {
		return fmt.Errorf("api: negative timeout %v", c.Timeout)
	}
	if c.MaxResponseBytes < 0 {
		return fmt.Errorf("api: negative max response bytes %d", c.MaxResponseBytes)
	}
	if c.Address != "" {
		if _, err := parseAddress(c.Address); err != nil {
			return err
		}
	}
	return nil
}

// parseAddress turns "host:port" or a URL into a base URL.
func parseAddress(addr string) (*url.URL, error) {
	if !strings.Contains(addr, "://") {
		addr = "http://" + addr
	}
	u, err := url.Parse(addr)
	if err != nil {
		return nil, fmt.Errorf("api: agent address %q: %w", addr, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("api: agent address %q: scheme must be http or https", addr)
	}
	if u.Host == "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return nil, fmt.Errorf("api: agent address %q: want host:port or http://host:port", addr)
	}
	u.Path = strings.TrimSuffix(u.Path, "/")
	u.RawPath = ""
	return u, nil
}

// Client talks to one agent's HTTP API. It is safe for concurrent use.
type Client struct {
	base    *url.URL
	hc      *http.Client
	timeout time.Duration
	maxBody int64
	token   string // "" sends none
}

// NewClient returns a client for cfg; zero fields take their defaults.
func NewClient(cfg ClientConfig) (*Client, error) {
	def := DefaultClientConfig()
	if cfg.Address == "" {
		cfg.Address = os.Getenv(AddressEnv)
	}
	if cfg.Address == "" {
		cfg.Address = DefaultAddress
	}
	cfg.fromEnv()
	if cfg.tlsEnabled() && !strings.Contains(cfg.Address, "://") {
		cfg.Address = "https://" + cfg.Address
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = def.Timeout
	}
	if cfg.MaxResponseBytes == 0 {
		cfg.MaxResponseBytes = def.MaxResponseBytes
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	base, err := parseAddress(cfg.Address)
	if err != nil {
		return nil, err
	}
	if base.Scheme != "https" {
		// An explicit http:// address speaks plain HTTP: TLS files (say,
		// from the environment) do not apply to it.
		cfg.CAFile, cfg.ClientCert, cfg.ClientKey = "", "", ""
	}
	token, err := cfg.loadToken()
	if err != nil {
		return nil, err
	}
	if err := checkToken(token); err != nil {
		return nil, err
	}
	hc := cfg.HTTPClient
	switch {
	case hc != nil && cfg.tlsEnabled():
		return nil, errors.New("api: TLS files and HTTPClient exclude each other: configure the client's transport")
	case cfg.tlsEnabled():
		tr, err := cfg.transport()
		if err != nil {
			return nil, err
		}
		hc = &http.Client{Transport: tr}
	case hc == nil:
		hc = &http.Client{Transport: http.DefaultTransport}
	}
	return &Client{base: base, hc: hc, timeout: cfg.Timeout, maxBody: cfg.MaxResponseBytes, token: token}, nil
}

// CloseIdleConnections closes the kept-alive connections of the client's
// transport.
func (c *Client) CloseIdleConnections() { c.hc.CloseIdleConnections() }

// Address is the base URL the client talks to.
func (c *Client) Address() string { return c.base.String() }

// request describes one call.
type request struct {
	method  string
	path    []string // escaped one segment each, joined with "/"
	query   url.Values
	body    any
	timeout time.Duration // 0: no deadline beyond ctx
	header  http.Header
}

func (r request) String() string { return r.method + " /" + strings.Join(r.path, "/") }

// send performs req and returns a 2xx response (the caller closes its body)
// plus the cancel function of its deadline.
func (c *Client) send(ctx context.Context, req request) (*http.Response, context.CancelFunc, error) {
	cancel := context.CancelFunc(func() {})
	if req.timeout > 0 {
		ctx, cancel = context.WithTimeout(ctx, req.timeout)
	}
	u := *c.base
	plain, raw := c.base.Path, c.base.EscapedPath()
	for _, seg := range req.path {
		if seg == "" {
			cancel()
			return nil, nil, fmt.Errorf("%w: %s: empty name or id", ErrInvalid, req)
		}
		plain += "/" + seg
		raw += "/" + url.PathEscape(seg)
	}
	u.Path, u.RawPath = plain, raw
	if len(req.query) > 0 {
		u.RawQuery = req.query.Encode()
	}
	var body io.Reader
	if req.body != nil {
		b, err := json.Marshal(req.body)
		if err != nil {
			cancel()
			return nil, nil, fmt.Errorf("api: %s: encode body: %w", req, err)
		}
		body = bytes.NewReader(b)
	}
	hr, err := http.NewRequestWithContext(ctx, req.method, u.String(), body)
	if err != nil {
		cancel()
		return nil, nil, fmt.Errorf("api: %s: %w", req, err)
	}
	for k, v := range req.header {
		hr.Header[k] = v
	}
	if c.token != "" {
		hr.Header.Set("Authorization", "Bearer "+c.token)
	}
	if body != nil {
		hr.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.hc.Do(hr)
	if err != nil {
		cancel()
		return nil, nil, fmt.Errorf("api: %s: %w", req, err)
	}
	if resp.StatusCode/100 != 2 {
		defer resp.Body.Close()
		defer cancel()
		return nil, nil, fmt.Errorf("api: %s: %w", req, readStatusError(resp))
	}
	return resp, cancel, nil
}

// readStatusError builds a *StatusError from a non-2xx response.
func readStatusError(resp *http.Response) error {
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	msg := ""
	var e Error
	if json.Unmarshal(b, &e) == nil && e.Error != "" {
		msg = e.Error
	} else if s := strings.TrimSpace(string(b)); s != "" && len(s) <= 200 {
		msg = s
	} else {
		msg = http.StatusText(resp.StatusCode)
	}
	return &StatusError{Code: resp.StatusCode, Message: msg}
}

// call performs req and decodes a JSON answer into out (nil: discard).
func (c *Client) call(ctx context.Context, req request, out any) (http.Header, error) {
	resp, cancel, err := c.send(ctx, req)
	if err != nil {
		return nil, err
	}
	defer cancel()
	defer resp.Body.Close()
	b, err := readLimited(resp.Body, c.maxBody)
	if err != nil {
		return nil, fmt.Errorf("api: %s: %w", req, err)
	}
	if out != nil && len(bytes.TrimSpace(b)) > 0 {
		if err := json.Unmarshal(b, out); err != nil {
			return nil, fmt.Errorf("api: %s: decode response: %w", req, err)
		}
	}
	return resp.Header, nil
}

// readLimited reads all of r, failing with ErrTooLarge beyond limit bytes.
func readLimited(r io.Reader, limit int64) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return nil, fmt.Errorf("read response: %w", err)
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("%w: response larger than %d bytes", ErrTooLarge, limit)
	}
	return b, nil
}

// Register registers (or replaces) an instance on the agent's own host and
// returns it as the agent stored it (defaults filled in). An agent that
// answers without a body yields the zero Instance.
func (c *Client) Register(ctx context.Context, reg Registration) (Instance, error) {
	var inst Instance
	_, err := c.call(ctx, request{method: http.MethodPut, path: []string{"v1", "agent", "services"}, body: reg, timeout: c.timeout}, &inst)
	return inst, err
}

// Deregister removes the agent's instance id. Unknown ids yield ErrNotFound.
func (c *Client) Deregister(ctx context.Context, id string) error {
	_, err := c.call(ctx, request{method: http.MethodDelete, path: []string{"v1", "agent", "services", id}, timeout: c.timeout}, nil)
	return err
}

// Maintenance puts the agent's instance id in maintenance (enable) or takes it
// out. Reason is shown as the instance's output.
func (c *Client) Maintenance(ctx context.Context, id string, enable bool, reason string) error {
	q := url.Values{"enable": {strconv.FormatBool(enable)}}
	if reason != "" {
		q.Set("reason", reason)
	}
	_, err := c.call(ctx, request{method: http.MethodPut, path: []string{"v1", "agent", "services", id, "maintenance"}, query: q, timeout: c.timeout}, nil)
	return err
}

// UpdateTTL sets the status of the TTL check checkID and restarts its TTL.
func (c *Client) UpdateTTL(ctx context.Context, checkID string, u TTLUpdate) error {
	_, err := c.call(ctx, request{method: http.MethodPut, path: []string{"v1", "agent", "checks", checkID, "ttl"}, body: u, timeout: c.timeout}, nil)
	return err
}

// Services lists every service the agent knows with counts by health, sorted
// by name.
func (c *Client) Services(ctx context.Context) ([]ServiceSummary, error) {
	var out []ServiceSummary
	_, err := c.call(ctx, request{method: http.MethodGet, path: []string{"v1", "services"}, timeout: c.timeout}, &out)
	return out, err
}

// Service looks up the instances of a service. With opts.Index > 0 it blocks
// until the service's index exceeds it or the wait passes. A service without
// (matching) instances yields an empty slice, not an error.
func (c *Client) Service(ctx context.Context, name string, opts QueryOptions) ([]Instance, QueryMeta, error) {
	req := request{method: http.MethodGet, path: []string{"v1", "services", name}, query: opts.Values(), timeout: c.timeout + opts.EffectiveWait()}
	if opts.Index > 0 {
		req.timeout += opts.EffectiveWait() / 16 // the agent adds up to wait/16 of jitter
	}
	var out []Instance
	h, err := c.call(ctx, req, &out)
	if err != nil {
		return nil, QueryMeta{}, err
	}
	var meta QueryMeta
	if s := h.Get(IndexHeader); s != "" {
		idx, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			return nil, QueryMeta{}, fmt.Errorf("api: %s: bad %s %q", req, IndexHeader, s)
		}
		meta.Index = idx
	}
	if out == nil {
		out = []Instance{}
	}
	return out, meta, nil
}

// Instance returns one instance by its identity (node, id).
func (c *Client) Instance(ctx context.Context, node, id string) (Instance, error) {
	var inst Instance
	_, err := c.call(ctx, request{method: http.MethodGet, path: []string{"v1", "instances", node, id}, timeout: c.timeout}, &inst)
	return inst, err
}

// Members lists the cluster's members as this agent sees them.
func (c *Client) Members(ctx context.Context) ([]Member, error) {
	var out []Member
	_, err := c.call(ctx, request{method: http.MethodGet, path: []string{"v1", "members"}, timeout: c.timeout}, &out)
	return out, err
}

// Self describes the agent.
func (c *Client) Self(ctx context.Context) (AgentSelf, error) {
	var out AgentSelf
	_, err := c.call(ctx, request{method: http.MethodGet, path: []string{"v1", "agent", "self"}, timeout: c.timeout}, &out)
	return out, err
}

// Stream opens the change stream of a service ("" for every service, whose
// indexes are the agent's global index) and yields its events in order.
// fromIndex 0 starts with a reset event holding the current instances; a
// fromIndex the client has seen resumes after it (the agent replays the missed
// changes or sends a reset). Events of unknown types are skipped.
//
// The iterator yields (event, nil) per event and ends after yielding one
// (StreamEvent{}, err): ErrStreamEnded when the agent closed the stream, the
// context's error when ctx ended, else why the connection failed. It does not
// reconnect: resume with the Index of the last event processed. Breaking out
// of the loop closes the connection.
func (c *Client) Stream(ctx context.Context, service string, fromIndex uint64) iter.Seq2[StreamEvent, error] {
	return func(yield func(StreamEvent, error) bool) {
		q := url.Values{}
		if service != "" { // "": every service
			q.Set("service", service)
		}
		h := http.Header{"Accept": {StreamContentType}}
		if fromIndex > 0 {
			idx := strconv.FormatUint(fromIndex, 10)
			q.Set("index", idx)
			h.Set("Last-Event-ID", idx)
		}
		req := request{method: http.MethodGet, path: []string{"v1", "stream"}, query: q, header: h}
		resp, cancel, err := c.send(ctx, req)
		if err != nil {
			yield(StreamEvent{}, err)
			return
		}
		defer cancel()
		defer resp.Body.Close()
		if mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type")); mt != StreamContentType {
			yield(StreamEvent{}, fmt.Errorf("api: %s: content type %q, want %s", req, mt, StreamContentType))
			return
		}
		sr := newSSEReader(resp.Body, int(min(c.maxBody, 1<<30)))
		for {
			raw, err := sr.next()
			if err != nil {
				switch {
				case ctx.Err() != nil:
					err = ctx.Err()
				case errors.Is(err, io.EOF):
					err = ErrStreamEnded
				default:
					err = fmt.Errorf("api: %s: %w", req, err)
				}
				yield(StreamEvent{}, err)
				return
			}
			ev, err := decodeStreamEvent(raw.data)
			if err != nil {
				yield(StreamEvent{}, fmt.Errorf("api: %s: %w", req, err))
				return
			}
			if !ev.Type.known() {
				continue
			}
			if !yield(ev, nil) {
				return
			}
		}
	}
}
