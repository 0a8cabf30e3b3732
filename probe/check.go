package probe

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Type is the kind of a check.
type Type string

// Check types.
const (
	HTTP Type = "http" // GET (or Method) Target; status code decides (see StatusRange).
	TCP  Type = "tcp"  // connect to Target (host:port); success is passing.
	Exec Type = "exec" // run Args (no shell); exit 0 passing, 1 warning, else critical.
	TTL  Type = "ttl"  // the service reports via Runner.UpdateTTL; critical when TTL lapses.
	GRPC Type = "grpc" // grpc.health.v1 Check on Target (host:port[/service]); SERVING is passing.
)

// Limits and defaults of a check definition.
const (
	DefaultInterval = 10 * time.Second // how often a probe runs
	DefaultTimeout  = 5 * time.Second  // capped at Interval/2 when Interval is short
	DefaultRise     = 1                // one success makes a check passing: new instances serve fast
	DefaultFall     = 2                // two failures make it critical: one blip does not flap it

	MinInterval   = time.Second                // more often is load, not health
	MaxInterval   = 24 * time.Hour             // sanity bound
	MinTimeout    = 10 * time.Millisecond      // below this a loopback connect can miss
	MinTTL        = time.Second                // same reason as MinInterval
	MaxTTL        = 7 * 24 * time.Hour         // sanity bound
	MinDeregister = time.Minute                // deregistering on a short outage loses instances
	MaxThreshold  = 100                        // rise/fall bound
	MaxIDLen      = 256                        // bytes, for ID and Name
	MaxArgs       = 64                         // exec argv entries
	MaxArgLen     = 4096                       // bytes per argv entry
	MaxHeaders    = 32                         // HTTP headers per check
	MaxTargetLen  = 2048                       // bytes of URL or host:port
	MaxOutput     = 4096                       // bytes of Result.Output
	maxCheckJSON  = 64 << 10                   // bytes of one check definition in ParseCheck
	truncatedMark = "\n... (output truncated)" // appended when output was cut
)

// Check is one health check definition. The JSON form (snake_case; durations as
// Go duration strings such as "10s") is what service definition files and the
// HTTP API carry. Zero fields take the defaults of WithDefaults; Validate reports
// what is wrong. Fields that do not apply to the Type must be empty.
type Check struct {
	// ID names the check; unique within a Runner. Required.
	ID string
	// Name is a human label (optional).
	Name string
	// Type is http, tcp, exec or ttl. Required.
	Type Type
	// Target is the URL (http, https only) or host:port (tcp).
	Target string
	// Args is the argv of an exec check: Args[0] is the program (absolute, or
	// looked up in PATH), no shell is involved.
	Args []string
	// Interval between probe starts (not ttl). Default 10s, at least 1s.
	Interval time.Duration
	// Timeout of one probe (not ttl); must be below Interval. Default
	// min(5s, Interval/2).
	Timeout time.Duration
	// TTL (ttl checks only, required): critical when not refreshed within it.
	TTL time.Duration
	// Method (http): default GET.
	Method string
	// Headers (http): added to the request; "Host" sets the Host header.
	Headers map[string]string
	// ExpectStatus (http): the status codes that mean passing; default 200..299.
	ExpectStatus *StatusRange
	// TLSSkipVerify (http, grpc): do not verify the server certificate.
	TLSSkipVerify bool
	// OmitBody (http): the output is the status line only, never the
	// response body. The agent sets it for checks registered over the HTTP
	// API, so a write token cannot read another service's answers (or a
	// metadata endpoint's) through a check's published output. Not part of
	// the JSON definition.
	OmitBody bool `json:"-"`
	// AllowAddr (http, tcp, grpc), if set, is asked about every address a
	// probe is about to connect to, after name resolution (in the dialer's
	// Control hook, so a name that resolves elsewhere at connect time than
	// at registration, DNS rebinding, is judged by where it goes). An error
	// refuses the connection: the probe is critical and its output says why.
	// The agent sets it for checks registered over the HTTP API
	// (check_targets). Not part of the JSON definition.
	AllowAddr func(netip.Addr) error `json:"-"`
	// resolver replaces the system resolver (tests).
	resolver *net.Resolver
	// TLS (grpc): connect with TLS (default plaintext, as gRPC health
	// servers on the local host usually are).
	TLS bool
	// Notes is free text for humans (shown by the Consul-compatible API).
	Notes string
	// Rise is the number of consecutive passing results that make the check
	// passing. Default 1.
	Rise int
	// Fall is the number of consecutive non-passing results that make the check
	// warning or critical. Default 2.
	Fall int
	// DeregisterCriticalAfter, if set, makes the Runner call OnDeregister once
	// the check has been critical that long (at least 1m). The Runner does not
	// remove anything itself.
	DeregisterCriticalAfter time.Duration
	// InitialStatus is the state before the first result. Default critical.
	InitialStatus Status
}

// StatusRange is an inclusive range of HTTP status codes.
type StatusRange struct {
	Min int `json:"min"`
	Max int `json:"max"`
}

// checkJSON is Check's wire form; durations travel as strings.
type checkJSON struct {
	ID                      string            `json:"id"`
	Name                    string            `json:"name,omitempty"`
	Type                    Type              `json:"type"`
	Target                  string            `json:"target,omitempty"`
	Args                    []string          `json:"args,omitempty"`
	Interval                duration          `json:"interval,omitempty"`
	Timeout                 duration          `json:"timeout,omitempty"`
	TTL                     duration          `json:"ttl,omitempty"`
	Method                  string            `json:"method,omitempty"`
	Headers                 map[string]string `json:"headers,omitempty"`
	ExpectStatus            *StatusRange      `json:"expect_status,omitempty"`
	TLSSkipVerify           bool              `json:"tls_skip_verify,omitempty"`
	TLS                     bool              `json:"tls,omitempty"`
	Notes                   string            `json:"notes,omitempty"`
	Rise                    int               `json:"rise,omitempty"`
	Fall                    int               `json:"fall,omitempty"`
	DeregisterCriticalAfter duration          `json:"deregister_critical_after,omitempty"`
	InitialStatus           Status            `json:"initial_status,omitempty"`
}

// duration is a time.Duration written as a Go duration string in JSON.
type duration time.Duration

func (d duration) MarshalJSON() ([]byte, error) {
	return json.Marshal(time.Duration(d).String())
}

func (d *duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("probe: duration must be a string like \"10s\", got %s", truncate(string(b), 40))
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("probe: duration %q: %w", truncate(s, 40), err)
	}
	*d = duration(v)
	return nil
}

// MarshalJSON writes the snake_case form with duration strings.
func (c Check) MarshalJSON() ([]byte, error) {
	return json.Marshal(checkJSON{
		ID: c.ID, Name: c.Name, Type: c.Type, Target: c.Target, Args: c.Args,
		Interval: duration(c.Interval), Timeout: duration(c.Timeout), TTL: duration(c.TTL),
		Method: c.Method, Headers: c.Headers, ExpectStatus: c.ExpectStatus,
		TLSSkipVerify: c.TLSSkipVerify, TLS: c.TLS, Notes: c.Notes, Rise: c.Rise, Fall: c.Fall,
		DeregisterCriticalAfter: duration(c.DeregisterCriticalAfter),
		InitialStatus:           c.InitialStatus,
	})
}

// UnmarshalJSON reads the snake_case form. Unknown fields are an error, so a
// misspelled field does not silently fall back to a default.
func (c *Check) UnmarshalJSON(b []byte) error {
	var j checkJSON
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&j); err != nil {
		return fmt.Errorf("probe: check: %w", err)
	}
	*c = Check{
		ID: j.ID, Name: j.Name, Type: j.Type, Target: j.Target, Args: j.Args,
		Interval: time.Duration(j.Interval), Timeout: time.Duration(j.Timeout), TTL: time.Duration(j.TTL),
		Method: j.Method, Headers: j.Headers, ExpectStatus: j.ExpectStatus,
		TLSSkipVerify: j.TLSSkipVerify, TLS: j.TLS, Notes: j.Notes, Rise: j.Rise, Fall: j.Fall,
		DeregisterCriticalAfter: time.Duration(j.DeregisterCriticalAfter),
		InitialStatus:           j.InitialStatus,
	}
	return nil
}

// ParseCheck decodes one JSON check definition, applies defaults and validates
// it. Input from a user or the network goes through here (or through
// json.Unmarshal followed by Validate).
func ParseCheck(data []byte) (Check, error) {
	if len(data) > maxCheckJSON {
		return Check{}, fmt.Errorf("%w: definition larger than %d bytes", ErrInvalidCheck, maxCheckJSON)
	}
	var c Check
	if err := json.Unmarshal(data, &c); err != nil {
		return Check{}, fmt.Errorf("%w: %v", ErrInvalidCheck, err)
	}
	c = c.WithDefaults()
	if err := c.Validate(); err != nil {
		return Check{}, err
	}
	return c, nil
}

// WithDefaults returns c with zero fields set to their defaults. It does not
// validate and never fails.
func (c Check) WithDefaults() Check {
	c.Type = Type(strings.ToLower(string(c.Type)))
	if len(c.Args) == 0 {
		c.Args = nil // "args": [] is no args
	}
	if len(c.Headers) == 0 {
		c.Headers = nil
	}
	if c.InitialStatus == "" {
		c.InitialStatus = Critical
	}
	if c.Rise == 0 {
		c.Rise = DefaultRise
	}
	if c.Fall == 0 {
		c.Fall = DefaultFall
	}
	if c.Type == TTL {
		return c
	}
	if c.Interval == 0 {
		c.Interval = DefaultInterval
	}
	if c.Timeout == 0 {
		c.Timeout = min(DefaultTimeout, c.Interval/2)
	}
	if c.Type == HTTP {
		if c.Method == "" {
			c.Method = "GET"
		}
		if c.ExpectStatus == nil {
			c.ExpectStatus = &StatusRange{Min: 200, Max: 299}
		}
	}
	return c
}

// clone returns c with its own copies of Args, Headers and ExpectStatus.
func (c Check) clone() Check {
	c.Args = slices.Clone(c.Args)
	c.Headers = maps.Clone(c.Headers)
	if c.ExpectStatus != nil {
		r := *c.ExpectStatus
		c.ExpectStatus = &r
	}
	return c
}

// Validate reports the first problem of c with defaults applied (it does not
// modify c). Errors wrap ErrInvalidCheck.
func (c Check) Validate() error {
	if err := c.WithDefaults().validate(); err != nil {
		return fmt.Errorf("%w: check %q: %s", ErrInvalidCheck, truncate(c.ID, 64), err)
	}
	return nil
}

func (c Check) validate() error {
	if err := validName("id", c.ID, true); err != nil {
		return err
	}
	if err := validName("name", c.Name, false); err != nil {
		return err
	}
	if len(c.Notes) > MaxOutput || !utf8.ValidString(c.Notes) {
		return fmt.Errorf("notes: longer than %d bytes or not UTF-8", MaxOutput)
	}
	if !c.InitialStatus.Valid() {
		return fmt.Errorf("initial_status %q: want passing, warning or critical", truncate(string(c.InitialStatus), 32))
	}
	if c.Rise < 1 || c.Rise > MaxThreshold {
		return fmt.Errorf("rise %d: want 1..%d", c.Rise, MaxThreshold)
	}
	if c.Fall < 1 || c.Fall > MaxThreshold {
		return fmt.Errorf("fall %d: want 1..%d", c.Fall, MaxThreshold)
	}
	if d := c.DeregisterCriticalAfter; d != 0 && d < MinDeregister {
		return fmt.Errorf("deregister_critical_after %s: want 0 (never) or at least %s", d, MinDeregister)
	}
	switch c.Type {
	case HTTP, TCP, Exec, GRPC:
		if err := c.validateSchedule(); err != nil {
			return err
		}
	case TTL:
		if c.TTL < MinTTL || c.TTL > MaxTTL {
			return fmt.Errorf("ttl %s: want %s..%s", c.TTL, MinTTL, MaxTTL)
		}
		if c.Interval != 0 || c.Timeout != 0 {
			return errors.New("interval and timeout do not apply to a ttl check")
		}
	case "":
		return errors.New("type is required: http, tcp, exec, ttl or grpc")
	default:
		return fmt.Errorf("type %q: want http, tcp, exec, ttl or grpc", truncate(string(c.Type), 32))
	}
	if c.Type != TTL && c.TTL != 0 {
		return errors.New("ttl applies only to a ttl check")
	}
	if c.Type != HTTP && (c.Method != "" || len(c.Headers) > 0 || c.ExpectStatus != nil) {
		return errors.New("method, headers and expect_status apply only to an http check")
	}
	if c.Type != HTTP && c.Type != GRPC && c.TLSSkipVerify {
		return errors.New("tls_skip_verify applies only to http and grpc checks")
	}
	if c.Type != GRPC && c.TLS {
		return errors.New("tls applies only to a grpc check (http checks take an https:// target)")
	}
	if c.Type == GRPC && c.TLSSkipVerify && !c.TLS {
		return errors.New("tls_skip_verify on a grpc check needs tls: true")
	}
	if c.Type != Exec && len(c.Args) > 0 {
		return errors.New("args apply only to an exec check (target is for http, tcp and grpc)")
	}
	switch c.Type {
	case HTTP:
		return c.validateHTTP()
	case TCP:
		return validHostPort(c.Target)
	case GRPC:
		_, _, err := SplitGRPCTarget(c.Target)
		return err
	case Exec:
		return c.validateExec()
	default: // TTL
		if c.Target != "" {
			return errors.New("target does not apply to a ttl check")
		}
		return nil
	}
}

func (c Check) validateSchedule() error {
	if c.Interval < MinInterval || c.Interval > MaxInterval {
		return fmt.Errorf("interval %s: want %s..%s", c.Interval, MinInterval, MaxInterval)
	}
	if c.Timeout < MinTimeout || c.Timeout >= c.Interval {
		return fmt.Errorf("timeout %s: want at least %s and below interval %s", c.Timeout, MinTimeout, c.Interval)
	}
	return nil
}

func (c Check) validateHTTP() error {
	if len(c.Target) > MaxTargetLen {
		return fmt.Errorf("target longer than %d bytes", MaxTargetLen)
	}
	u, err := url.Parse(c.Target)
	if err != nil {
		return fmt.Errorf("target: %v", err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return fmt.Errorf("target %q: want an http:// or https:// URL", truncate(c.Target, 64))
	}
	if u.Host == "" {
		return fmt.Errorf("target %q: no host", truncate(c.Target, 64))
	}
	if !isToken(c.Method) {
		return fmt.Errorf("method %q: not an HTTP token", truncate(c.Method, 32))
	}
	if len(c.Headers) > MaxHeaders {
		return fmt.Errorf("%d headers: at most %d", len(c.Headers), MaxHeaders)
	}
	for k, v := range c.Headers {
		if !isToken(k) {
			return fmt.Errorf("header name %q: not an HTTP token", truncate(k, 32))
		}
		if len(v) > MaxArgLen || strings.ContainsAny(v, "\r\n\x00") || !utf8.ValidString(v) {
			return fmt.Errorf("header %q: value too long or with CR, LF or NUL", truncate(k, 32))
		}
	}
	if r := c.ExpectStatus; r.Min < 100 || r.Max > 599 || r.Min > r.Max {
		return fmt.Errorf("expect_status %d..%d: want 100 <= min <= max <= 599", r.Min, r.Max)
	}
	return nil
}

func (c Check) validateExec() error {
	if len(c.Args) == 0 || c.Args[0] == "" {
		return errors.New("args: an exec check needs a program (args[0]); no shell is used")
	}
	if c.Target != "" {
		return errors.New("target does not apply to an exec check: use args")
	}
	if len(c.Args) > MaxArgs {
		return fmt.Errorf("args: %d entries, at most %d", len(c.Args), MaxArgs)
	}
	for i, a := range c.Args {
		if len(a) > MaxArgLen || strings.ContainsRune(a, 0) {
			return fmt.Errorf("args[%d]: longer than %d bytes or contains NUL", i, MaxArgLen)
		}
	}
	return nil
}

func validHostPort(s string) error {
	if len(s) > MaxTargetLen {
		return fmt.Errorf("target longer than %d bytes", MaxTargetLen)
	}
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return fmt.Errorf("target %q: want host:port", truncate(s, 64))
	}
	if host == "" {
		return fmt.Errorf("target %q: no host", truncate(s, 64))
	}
	if p, err := strconv.Atoi(port); err != nil || p < 1 || p > 65535 {
		return fmt.Errorf("target %q: port must be 1..65535", truncate(s, 64))
	}
	return nil
}

func validName(field, s string, required bool) error {
	if s == "" {
		if required {
			return fmt.Errorf("%s is required", field)
		}
		return nil
	}
	if len(s) > MaxIDLen || !utf8.ValidString(s) {
		return fmt.Errorf("%s: longer than %d bytes or not UTF-8", field, MaxIDLen)
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			return fmt.Errorf("%s: contains a control character", field)
		}
	}
	return nil
}

// isToken reports whether s is a non-empty RFC 9110 token.
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		b := s[i]
		switch {
		case 'a' <= b && b <= 'z', 'A' <= b && b <= 'Z', '0' <= b && b <= '9':
		case strings.IndexByte("!#$%&'*+-.^_`|~", b) >= 0:
		default:
			return false
		}
	}
	return true
}
