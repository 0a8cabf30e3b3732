package agent

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/grapevine-sd/grapevine/catalog"
)

// The Consul-compatible listener: Consul's discovery HTTP API (agent,
// catalog, health, status) on its own address, so consul/api,
// consul-template, Prometheus' consul_sd and other Consul clients work
// against a Grapevine agent unchanged. docs/consul.md is its manual.

// ConsulConfig configures the Consul-compatible listener.
type ConsulConfig struct {
	// HTTP is its address, e.g. 127.0.0.1:8500 (Consul's port, so clients
	// using CONSUL_HTTP_ADDR's default work unchanged). Empty (the default)
	// disables it.
	HTTP string `yaml:"http"`
	// Datacenter is the name Consul clients see for the whole cluster.
	// Default "dc1" (Consul's default). ?dc= also accepts a zone name.
	Datacenter string `yaml:"datacenter"`
}

// defaultDatacenter is Consul's default datacenter name.
const defaultDatacenter = "dc1"

func (c ConsulConfig) datacenter() string {
	if c.Datacenter == "" {
		return defaultDatacenter
	}
	return c.Datacenter
}

// validateConsul checks the consul keys, and applies the native API's
// safe-binding rule to the Consul listener: beyond loopback it needs the ACL
// or TLS, unless insecure_http says the operator knows.
func (c *Config) validateConsul() error {
	cc := c.Consul
	if cc.HTTP != "" {
		if _, _, err := splitHostPort(cc.HTTP, false); err != nil {
			return fmt.Errorf("consul.http: %v", err)
		}
		if !c.InsecureHTTP && !c.ACL.Enabled && !c.TLS.Enabled() && !loopbackAddr(cc.HTTP) {
			return fmt.Errorf("consul.http %s is not a loopback address and neither acl nor tls is enabled: anyone who reaches it could "+
				"register and deregister services; enable acl (and tls), or listen on 127.0.0.1, or accept the risk with -insecure-http (insecure_http: true)", cc.HTTP)
		}
	}
	if d := cc.Datacenter; len(d) > 64 || (d != "" && !printable(d)) {
		return fmt.Errorf("consul.datacenter %q: want up to 64 printable bytes without spaces", truncateString(d, 64))
	}
	return nil
}

// Bounds of the Consul listener's requests.
const (
	consulMaxQuery    = 8 << 10 // bytes of query string
	consulMaxParams   = 64      // query values
	consulMaxWait     = 10 * time.Minute
	consulDefaultWait = 5 * time.Minute
)

// consulServer is the Consul-compatible HTTP listener. It is guarded like
// the native API (tokens also from X-Consul-Token and ?token=, TLS, Host
// check, bounds: guard.go).
type consulServer struct {
	a    *Agent
	dc   string
	g    *Guard
	gs   *guardedServer
	mux  *http.ServeMux
	once sync.Once
	err  error

	feed    changeFeed
	answers answerCache // encoded answers of service endpoints
	stop    chan struct{}
	wg      sync.WaitGroup // the catalog watcher
}

// startConsul starts the listener if configured.
func (a *Agent) startConsul() error {
	if a.cfg.Consul.HTTP == "" {
		return nil
	}
	addr := a.cfg.Consul.HTTP
	s := &consulServer{a: a, dc: a.cfg.Consul.datacenter(), mux: http.NewServeMux(), stop: make(chan struct{})}
	s.g = a.newGuard(addr, "consul ", HeaderToken("X-Consul-Token"), QueryToken("token"))
	s.feed.init()
	s.routes()
	gs, err := a.serveGuarded(addr, s.g, s.mux)
	if err != nil {
		return fmt.Errorf("agent: consul %w", err)
	}
	s.gs = gs
	s.wg.Add(1)
	go s.watchCatalog()
	a.mu.Lock()
	a.consul = s
	a.mu.Unlock()
	a.log.Info().Str("addr", s.Addr()).Str("datacenter", s.dc).Msg("consul-compatible http api listening")
	return nil
}

// ConsulAddr is the bound address of the Consul-compatible listener ("" if
// disabled or not started).
func (a *Agent) ConsulAddr() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.consul == nil {
		return ""
	}
	return a.consul.Addr()
}

// closeConsul stops the listener and its watcher and waits for them.
func (a *Agent) closeConsul(ctx context.Context) error {
	a.mu.Lock()
	s := a.consul
	a.mu.Unlock()
	if s == nil {
		return nil
	}
	return s.close(ctx)
}

// notifyConsul wakes blocking queries after a membership change.
func (a *Agent) notifyConsul() {
	a.memberGen.Add(1)
	a.mu.Lock()
	s := a.consul
	a.mu.Unlock()
	if s != nil {
		s.feed.bump()
	}
}

func (s *consulServer) Addr() string { return s.gs.Addr() }

func (s *consulServer) close(ctx context.Context) error {
	s.once.Do(func() {
		close(s.stop)
		s.err = s.gs.close(ctx)
		s.wg.Wait()
	})
	return s.err
}

// watchCatalog wakes blocking queries on every catalog change. It owns a
// subscription to all services; a dropped one is renewed (with a wake-up, as
// changes may have been missed).
func (s *consulServer) watchCatalog() {
	defer s.wg.Done()
	for {
		sub := s.a.cat.Subscribe("", 1024)
		s.feed.bump()
	drain:
		for {
			select {
			case <-s.stop:
				sub.Cancel()
				return
			case _, ok := <-sub.C:
				if !ok {
					break drain
				}
				// Coalesce a burst into one wake-up.
				for more := true; more; {
					select {
					case _, ok := <-sub.C:
						if !ok {
							break drain
						}
					default:
						more = false
					}
				}
				s.feed.bump()
			}
		}
		if !errors.Is(sub.Err(), catalog.ErrSlowSubscriber) {
			return // catalog closed or cancelled
		}
	}
}

// changeFeed wakes blocking queries: wait returns a channel closed by the
// next bump.
type changeFeed struct {
	mu sync.Mutex // guards ch
	ch chan struct{}
}

func (f *changeFeed) init() { f.ch = make(chan struct{}) }

func (f *changeFeed) wait() <-chan struct{} {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.ch
}

func (f *changeFeed) bump() {
	f.mu.Lock()
	defer f.mu.Unlock()
	close(f.ch)
	f.ch = make(chan struct{})
}

// consulHandler serves one route; q is the parsed common query.
type consulHandler func(w http.ResponseWriter, r *http.Request, q *consulQuery)

func (s *consulServer) routes() {
	read := func(pattern string, h consulHandler) { s.handle("GET "+pattern, PolicyRead, h) }
	put := func(pattern string, need Policy, h consulHandler) { s.handle("PUT "+pattern, need, h) }

	read("/v1/agent/self", s.agentSelf)
	read("/v1/agent/members", s.agentMembers)
	read("/v1/agent/services", s.agentServices)
	read("/v1/agent/service/{id}", s.agentServiceByID)
	read("/v1/agent/checks", s.agentChecks)
	read("/v1/agent/health/service/id/{id}", s.agentHealthByID)
	read("/v1/agent/health/service/name/{name}", s.agentHealthByName)
	put("/v1/agent/service/register", PolicyWrite, s.register)
	put("/v1/agent/service/deregister/{id}", PolicyWrite, s.deregister)
	put("/v1/agent/service/maintenance/{id}", PolicyWrite, s.maintenance)
	put("/v1/agent/check/pass/{id}", PolicyWrite, s.checkTTL("passing"))
	put("/v1/agent/check/warn/{id}", PolicyWrite, s.checkTTL("warning"))
	put("/v1/agent/check/fail/{id}", PolicyWrite, s.checkTTL("critical"))
	put("/v1/agent/check/update/{id}", PolicyWrite, s.checkUpdate)
	put("/v1/agent/leave", PolicyOperator, s.leave)

	read("/v1/catalog/services", s.catalogServices)
	read("/v1/catalog/service/{name}", s.catalogService)
	read("/v1/catalog/nodes", s.catalogNodes)
	read("/v1/catalog/node/{node}", s.catalogNode)
	read("/v1/catalog/datacenters", s.catalogDatacenters)

	read("/v1/health/service/{name}", s.healthService)
	read("/v1/health/checks/{name}", s.healthChecks)
	read("/v1/health/node/{node}", s.healthNode)
	read("/v1/health/state/{state}", s.healthState)

	read("/v1/status/leader", s.statusLeader)
	read("/v1/status/peers", s.statusPeers)
}

// handle registers h behind the guard (the route's policy; PolicyWrite
// handlers call authorize with the service they touch) and the common query
// parsing, answering Consul's plain-text errors.
func (s *consulServer) handle(pattern string, need Policy, h consulHandler) {
	s.mux.Handle(pattern, s.g.Require(need, func(w http.ResponseWriter, r *http.Request) {
		q, err := parseConsulQuery(r)
		if err != nil {
			consulError(w, http.StatusBadRequest, err.Error())
			return
		}
		h(w, r, q)
	}))
}

// authorize checks that the request's token may write service (instance is
// for the audit line); false means it answered 403.
func authorize(w http.ResponseWriter, r *http.Request, service, instance string) bool {
	if err := Authorize(r, service, instance); err != nil {
		consulError(w, http.StatusForbidden, "Permission denied: "+err.Error())
		return false
	}
	return true
}

// consulError writes a Consul-style error: a plain-text body.
func consulError(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(code)
	_, _ = fmt.Fprintln(w, msg)
}

// consulQuery is what the common query parameters ask for.
type consulQuery struct {
	index    uint64
	wait     time.Duration
	hash     string
	zone     string            // ?dc= naming a zone: only its instances and nodes
	nodeMeta map[string]string // ?node-meta=k:v, all must match
	filter   *consulFilter     // ?filter=
	pretty   bool
	v        url.Values // all the parameters (nil: none)
}

// parseConsulQuery reads the parameters every endpoint shares. Consul
// ignores parameters it does not know, and so does this (clients send
// options like ?stale or ?near freely); those that would change the answer
// in a way Grapevine cannot honour are refused.
func parseConsulQuery(r *http.Request) (*consulQuery, error) {
	if len(r.URL.RawQuery) > consulMaxQuery {
		return nil, fmt.Errorf("query string longer than %d bytes", consulMaxQuery)
	}
	q := &consulQuery{}
	if r.URL.RawQuery == "" {
		return q, nil
	}
	v, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return nil, fmt.Errorf("bad query string: %v", err)
	}
	q.v = v
	n := 0
	for _, vals := range v {
		n += len(vals)
	}
	if n > consulMaxParams {
		return nil, fmt.Errorf("more than %d query parameters", consulMaxParams)
	}
	if s := v.Get("index"); s != "" {
		if q.index, err = strconv.ParseUint(s, 10, 64); err != nil {
			return nil, fmt.Errorf("invalid index %q", truncateString(s, 32))
		}
	}
	if s := v.Get("wait"); s != "" {
		if q.wait, err = parseConsulWait(s); err != nil {
			return nil, err
		}
	}
	q.hash = v.Get("hash")
	_, q.pretty = v["pretty"]
	for _, p := range []string{"peer", "sameness-group"} {
		if v.Get(p) != "" {
			return nil, fmt.Errorf("%s is not supported: Grapevine has no cluster peering (docs/consul.md)", p)
		}
	}
	for _, p := range []string{"ns", "partition"} {
		if x := v.Get(p); x != "" && x != "default" {
			return nil, fmt.Errorf("%s %q: Grapevine has only the default one", p, truncateString(x, 40))
		}
	}
	for _, m := range v["node-meta"] {
		k, val, ok := strings.Cut(m, ":")
		if !ok || k == "" {
			return nil, fmt.Errorf("node-meta %q: want key:value", truncateString(m, 64))
		}
		if q.nodeMeta == nil {
			q.nodeMeta = map[string]string{}
		}
		q.nodeMeta[k] = val
	}
	if f := v.Get("filter"); f != "" {
		if q.filter, err = parseConsulFilter(f); err != nil {
			return nil, fmt.Errorf("failed to create boolean expression evaluator: %v", err)
		}
	}
	q.zone = v.Get("dc") // resolved by the server (it knows the zones)
	return q, nil
}

// parseConsulWait reads ?wait: a Go duration ("10s", "5000ms"), or a bare
// number of seconds; capped at 10 minutes, as Consul does.
func parseConsulWait(s string) (time.Duration, error) {
	d, err := time.ParseDuration(s)
	if err != nil {
		secs, err2 := strconv.ParseUint(s, 10, 32)
		if err2 != nil {
			return 0, fmt.Errorf("invalid wait time %q", truncateString(s, 32))
		}
		d = time.Duration(secs) * time.Second
	}
	if d < 0 {
		return 0, fmt.Errorf("invalid wait time %q", truncateString(s, 32))
	}
	return min(d, consulMaxWait), nil
}

// resolveDC maps ?dc=: the configured datacenter (or none) is the whole
// cluster; a zone's name restricts the answer to that zone; anything else is
// refused, as Consul refuses a datacenter it has no path to.
func (s *consulServer) resolveDC(q *consulQuery) error {
	dc := q.zone
	q.zone = ""
	if dc == "" || dc == s.dc {
		return nil
	}
	if s.knownZone(dc) {
		q.zone = dc
		return nil
	}
	//lint:ignore ST1005 Consul's own message, which clients match on
	return fmt.Errorf("No path to datacenter %q: this Grapevine cluster is datacenter %q; ?dc= also takes a zone name (docs/consul.md)", truncateString(dc, 64), s.dc)
}

// knownZone reports whether some member or instance is in zone.
func (s *consulServer) knownZone(zone string) bool {
	if zone == s.a.cfg.Zone {
		return true
	}
	for _, m := range s.a.Members() {
		if m.Zone == zone {
			return true
		}
	}
	for _, sum := range s.a.cat.Services() {
		for _, e := range s.a.cat.Service(sum.Name, catalog.Filter{Health: catalog.HealthAny, Zone: zone}).Entries {
			if e.Zone == zone {
				return true
			}
		}
	}
	return false
}

// staleness is what a response says about the age of what it served.
type staleness struct {
	stale  bool          // something served comes from an unreachable owner
	maxAge time.Duration // the oldest such record's age
}

func (st *staleness) add(e *catalog.Entry) {
	if e.Stale {
		st.stale = true
		st.maxAge = max(st.maxAge, e.Age)
	}
}

// reading is one evaluation of a read endpoint.
type reading struct {
	body  any
	index uint64
	st    staleness
	// service, when set, is the one service the answer depends on: a
	// blocking query then wakes only on its changes.
	service string
	// raw, when set, is body already encoded (compact JSON and a newline,
	// shared with the cache: never modified).
	raw []byte
	// indexHdr, when set, is the X-Consul-Index value of index indexAt
	// (from the cache).
	indexHdr []string
	indexAt  uint64
	// contentHash sets X-Consul-ContentHash (Consul sets it where hash
	// blocking is offered: agent/service/:id); it is also computed for any
	// query with ?hash=.
	contentHash bool
}

// globalIndex is the index of endpoints that depend on the whole catalog
// and the membership: catalog changes plus membership changes, both only
// ever growing, so the sum only grows.
func (s *consulServer) globalIndex() uint64 {
	return s.a.cat.GlobalIndex() + s.a.memberGen.Load()
}

// serve answers a read endpoint with Consul's blocking-query semantics:
// without index (or hash) at once; with index, when the endpoint's index
// exceeds it; with hash, when the content's hash differs from it; in any
// case by wait (default 5m, max 10m, plus up to 1/16 jitter as Consul adds).
// An index above anything issued (e.g. from before a restart) answers at
// once, so a client never hangs on a stale index. A query on one service
// wakes only on that service's changes; the others on any catalog or
// membership change.
func (s *consulServer) serve(w http.ResponseWriter, r *http.Request, q *consulQuery, read func() reading) {
	blocking := q.index > 0 || q.hash != ""
	var deadline time.Time
	if blocking {
		wait := q.wait
		if wait <= 0 {
			wait = consulDefaultWait
		}
		deadline = time.Now().Add(wait + rand.N(wait/16+1))
	}
	ctx := r.Context()
	if blocking { // only a blocking query waits, and must end when the agent closes
		var stop context.CancelFunc
		ctx, stop = s.a.requestContext(ctx)
		defer stop()
	}
	for {
		changed := s.feed.wait() // before reading: no change can slip between
		res := read()
		if res.index == 0 {
			res.index = 1 // Consul never answers 0: clients treat it as "no blocking"
		}
		var body []byte
		var hash string
		if !blocking || q.hash != "" || res.index > q.index || q.index > s.globalIndex() || !time.Now().Before(deadline) {
			var err error
			if body, hash, err = encodeConsul(res, q.pretty, res.contentHash || q.hash != ""); err != nil {
				consulError(w, http.StatusInternalServerError, "encoding the answer: "+err.Error())
				return
			}
		}
		done := !blocking ||
			(q.index > 0 && (res.index > q.index || q.index > s.globalIndex())) ||
			(q.hash != "" && hash != q.hash) ||
			!time.Now().Before(deadline)
		if !done {
			wctx, cancel := context.WithDeadline(ctx, deadline)
			var err error
			if res.service != "" && q.hash == "" {
				_, err = s.a.cat.Wait(wctx, res.service, res.index)
			} else {
				select {
				case <-changed:
				case <-wctx.Done():
					err = wctx.Err()
				}
			}
			cancel()
			switch {
			case r.Context().Err() != nil:
				return // the client went away
			case ctx.Err() != nil || errors.Is(err, catalog.ErrClosed):
				consulError(w, http.StatusServiceUnavailable, "agent shutting down")
				return
			}
			continue // a change, or the deadline: read again and answer
		}
		h := w.Header()
		h["Content-Type"] = jsonContentType
		if res.indexHdr != nil && res.index == res.indexAt {
			h[hdrConsulIndex] = res.indexHdr
		} else {
			h[hdrConsulIndex] = []string{strconv.FormatUint(res.index, 10)}
		}
		if hash != "" {
			h[hdrConsulContentHash] = []string{hash}
		}
		s.setStaleness(h, res.st)
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(body)
		return
	}
}

// encodeConsul encodes an answer (indented with ?pretty) and a newline and,
// if asked, its content hash (X-Consul-ContentHash).
func encodeConsul(res reading, pretty, withHash bool) ([]byte, string, error) {
	body := res.raw
	var err error
	switch {
	case body != nil && pretty:
		var b bytes.Buffer
		err = json.Indent(&b, body[:len(body)-1], "", "    ")
		body = append(b.Bytes(), '\n')
	case body != nil:
	case pretty:
		body, err = json.MarshalIndent(res.body, "", "    ")
		body = append(body, '\n')
	default:
		body, err = json.Marshal(res.body)
		body = append(body, '\n')
	}
	if err != nil {
		return nil, "", err
	}
	hash := ""
	if withHash {
		sum := sha256.Sum256(body[:len(body)-1])
		hash = hex.EncodeToString(sum[:8])
	}
	return body, hash, nil
}

// Header names and values of Consul's answers, canonical already: set
// without Header.Set, and never modified (Set and Add replace or copy them).
var (
	hdrConsulIndex       = http.CanonicalHeaderKey("X-Consul-Index")
	hdrConsulContentHash = http.CanonicalHeaderKey("X-Consul-ContentHash")
	hdrConsulKnownLeader = http.CanonicalHeaderKey("X-Consul-KnownLeader")
	hdrConsulLastContact = http.CanonicalHeaderKey("X-Consul-LastContact")
	hdrConsulConsistency = http.CanonicalHeaderKey("X-Consul-Effective-Consistency")
	hdrConsulACLPolicy   = http.CanonicalHeaderKey("X-Consul-Default-ACL-Policy")
	hdrTrue, hdrFalse    = []string{"true"}, []string{"false"}
	hdrZero, hdrStale    = []string{"0"}, []string{"stale"}
	hdrAllow, hdrDeny    = []string{"allow"}, []string{"deny"}
)

// setStaleness writes Consul's consistency headers honestly: no leader
// exists, so KnownLeader says whether everything served is current (no
// record of an unreachable owner in it, no self-preservation), and
// LastContact is the age in milliseconds of the oldest stale record served.
// Every read is local, so the effective consistency is always "stale".
func (s *consulServer) setStaleness(h http.Header, st staleness) {
	h[hdrConsulKnownLeader] = hdrFalse
	if !st.stale && !s.a.cat.Preservation().Active {
		h[hdrConsulKnownLeader] = hdrTrue
	}
	h[hdrConsulLastContact] = hdrZero
	if ms := st.maxAge.Milliseconds(); ms != 0 {
		h[hdrConsulLastContact] = []string{strconv.FormatInt(ms, 10)}
	}
	h[hdrConsulConsistency] = hdrStale
	h[hdrConsulACLPolicy] = hdrAllow
	if s.a.acl != nil && s.a.acl.enabled && s.a.acl.anonymous() == PolicyNone {
		h[hdrConsulACLPolicy] = hdrDeny
	}
}

// writeOK answers a write as Consul does: 200 with an empty body (or JSON).
func (s *consulServer) writeOK(w http.ResponseWriter, body any) {
	if body == nil {
		w.WriteHeader(http.StatusOK)
		return
	}
	writeConsulJSON(w, http.StatusOK, body)
}

// writeConsulJSON answers with code and body as JSON and a newline, or a 500
// if body does not marshal.
func writeConsulJSON(w http.ResponseWriter, code int, body any) {
	b, err := json.Marshal(body)
	if err != nil {
		consulError(w, http.StatusInternalServerError, err.Error())
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_, _ = w.Write(append(b, '\n'))
}
