package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/grapevine-sd/grapevine/api"
	"github.com/grapevine-sd/grapevine/catalog"
	"github.com/grapevine-sd/grapevine/gossip"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// httpServer serves the API of docs/http.md, /metrics and /ui.
type httpServer struct {
	*guardedServer
	a   *Agent
	g   *Guard
	mux *http.ServeMux
	// cache maps a service name to its default *lookupAnswer; cached
	// counts its entries and bytes (see lookupCacheMax).
	cache  sync.Map
	cached struct{ entries, bytes atomic.Int64 }
}

func startHTTP(addr string, a *Agent) (*httpServer, error) {
	h := &httpServer{a: a, g: a.newGuard(addr, ""), mux: http.NewServeMux()}
	h.g.jsonErrors = true
	h.routes()
	s, err := a.serveGuarded(addr, h.g, h.mux)
	if err != nil {
		return nil, err
	}
	h.guardedServer = s
	return h, nil
}

// routes declares every route with the policy it requires (guard.go); write
// handlers call Authorize with the service they touch.
func (h *httpServer) routes() {
	m, g := h.mux, h.g
	m.Handle("PUT /v1/agent/services", g.Require(PolicyWrite, h.register))
	m.Handle("DELETE /v1/agent/services/{id}", g.Require(PolicyWrite, h.deregister))
	m.Handle("PUT /v1/agent/services/{id}/maintenance", g.Require(PolicyWrite, h.maintenance))
	m.Handle("PUT /v1/agent/checks/{id}/ttl", g.Require(PolicyWrite, h.ttl))
	m.Handle("GET /v1/agent/self", g.Require(PolicyRead, h.self))
	m.Handle("GET /v1/services", g.Require(PolicyRead, h.services))
	m.Handle("GET /v1/services/{name}", g.Require(PolicyRead, h.service))
	m.Handle("GET /v1/instances/{node}/{id}", g.Require(PolicyRead, h.instance))
	m.Handle("GET /v1/members", g.Require(PolicyRead, h.members))
	m.Handle("GET /v1/stream", g.Require(PolicyRead, h.stream))
	m.Handle("GET /metrics", g.Require(PolicyRead, promhttp.HandlerFor(h.a.metrics, promhttp.HandlerOpts{}).ServeHTTP))
	for _, cr := range h.clusterRoutes() { // clusterapi.go
		if cr.public {
			m.Handle(cr.pattern, g.Public(cr.handler))
		} else {
			m.Handle(cr.pattern, g.Require(cr.policy, cr.handler))
		}
	}
	m.Handle("GET /{$}", g.Public(func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/ui", http.StatusFound) }))
	h.keyringRoutes()
}

// writeErr maps agent errors to statuses.
func writeErr(w http.ResponseWriter, err error) {
	code := http.StatusInternalServerError
	switch {
	case errors.Is(err, ErrNotFound):
		code = http.StatusNotFound
	case errors.Is(err, ErrForbidden):
		code = http.StatusForbidden
	case errors.Is(err, ErrLimit):
		code = http.StatusTooManyRequests
	case errors.Is(err, ErrInvalidRegistration), errors.Is(err, catalog.ErrInvalidInstance):
		code = http.StatusBadRequest
	case errors.Is(err, api.ErrTooLarge), errors.Is(err, api.ErrInvalid):
		code = api.StatusCode(err)
	}
	api.WriteError(w, code, err.Error())
}

func (h *httpServer) register(w http.ResponseWriter, r *http.Request) {
	reg, err := api.DecodeRegistration(r.Body)
	if err != nil {
		writeErr(w, err)
		return
	}
	if err := h.authorizeInstance(r, reg.ID, reg.Name); err != nil {
		writeErr(w, err)
		return
	}
	e, err := h.a.Register(reg)
	if err != nil {
		writeErr(w, err)
		return
	}
	api.WriteJSON(w, http.StatusOK, h.a.toAPI(&e))
}

func (h *httpServer) deregister(w http.ResponseWriter, r *http.Request) {
	if err := h.authorizeInstance(r, r.PathValue("id"), ""); err != nil {
		writeErr(w, err)
		return
	}
	if err := h.a.Deregister(r.PathValue("id")); err != nil {
		writeErr(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (h *httpServer) maintenance(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	for k := range q {
		if k != "enable" && k != "reason" {
			api.WriteError(w, http.StatusBadRequest, fmt.Sprintf("unknown parameter %q", k))
			return
		}
	}
	on, err := strconv.ParseBool(q.Get("enable"))
	if err != nil {
		api.WriteError(w, http.StatusBadRequest, "enable must be true or false")
		return
	}
	if err := h.authorizeInstance(r, r.PathValue("id"), ""); err != nil {
		writeErr(w, err)
		return
	}
	if err := h.a.Maintenance(r.PathValue("id"), on, q.Get("reason")); err != nil {
		writeErr(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (h *httpServer) ttl(w http.ResponseWriter, r *http.Request) {
	u, err := api.DecodeTTLUpdate(r.Body)
	if err != nil {
		writeErr(w, err)
		return
	}
	if err := h.authorizeCheck(r, r.PathValue("id")); err != nil {
		writeErr(w, err)
		return
	}
	if err := h.a.UpdateTTL(r.PathValue("id"), u.Status, u.Output); err != nil {
		writeErr(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (h *httpServer) services(w http.ResponseWriter, r *http.Request) {
	sums := h.a.cat.Services()
	out := make([]api.ServiceSummary, 0, len(sums))
	for _, s := range sums {
		out = append(out, api.ServiceSummary{
			Name: s.Name, Instances: s.Passing + s.Warning + s.Critical + s.Maintenance,
			Passing: s.Passing, Warning: s.Warning, Critical: s.Critical, Maintenance: s.Maintenance, Stale: s.Stale,
		})
	}
	api.WriteJSON(w, http.StatusOK, out)
}

// service answers a lookup, blocking when asked to (index + wait).
func (h *httpServer) service(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	var q url.Values // nil: no parameters, and no map made for none
	if r.URL.RawQuery != "" {
		q = r.URL.Query()
	}
	opts, err := api.ParseQueryOptions(q)
	if err != nil {
		writeErr(w, err)
		return
	}
	f, err := toFilter(opts)
	if err != nil {
		api.WriteError(w, http.StatusBadRequest, err.Error())
		return
	}
	// An index above what this agent has issued (e.g. from before a restart)
	// answers at once, so a client never hangs on a stale index.
	if wait := opts.EffectiveWait(); wait > 0 && opts.Index <= h.a.cat.GlobalIndex() {
		rctx, stop := h.a.requestContext(r.Context())
		ctx, cancel := context.WithTimeout(rctx, wait)
		_, err := h.a.cat.Wait(ctx, name, opts.Index)
		cancel()
		stop()
		if r.Context().Err() != nil {
			return // the client went away
		}
		if errors.Is(err, catalog.ErrClosed) {
			api.WriteError(w, http.StatusServiceUnavailable, "agent shutting down")
			return
		}
	}
	global := h.a.cat.GlobalIndex() // before the lookup (see catalog.GlobalIndex)
	res := h.a.cat.Service(name, f)
	index := res.Index
	if index == 0 {
		// A service not seen yet: a blocking query with this index waits for
		// it to appear (0 would make clients poll without blocking).
		index = global
	}
	ans := h.encodeLookup(name, res, index, len(f.Tags) == 0 && len(f.Meta) == 0 && f.Zone == "" && f.Health == catalog.HealthDefault)
	// Set without Header.Set: the keys are canonical already, and the
	// values are the answer's own (net/http copies them when it writes).
	hdr := w.Header()
	hdr[api.IndexHeader] = ans.index
	hdr["Content-Type"] = jsonContentType
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(ans.body)
}

// jsonContentType is the Content-Type header value of JSON answers. Never
// modified: Header.Set and Add replace or copy it.
var jsonContentType = []string{"application/json"}

// lookupAnswer is an encoded lookup answer: the body and the index header's
// value. The cache holds the default answer of each service at its index:
// the common lookup is then one map read and one write, no encoding.
type lookupAnswer struct {
	at    uint64   // the catalog's index of the service, for the cache
	index []string // X-Grapevine-Index
	body  []byte
}

// encodeLookup encodes a lookup answer, from the cache when it is the default
// query and nothing in it is stale (a stale entry's age changes with time).
func (h *httpServer) encodeLookup(name string, res catalog.Result, index uint64, cacheable bool) *lookupAnswer {
	cacheable = cacheable && res.Index != 0 && !res.Fallback
	for _, e := range res.Entries {
		if e.Stale {
			cacheable = false
			break
		}
	}
	if cacheable {
		if c, ok := h.cache.Load(name); ok && c.(*lookupAnswer).at == res.Index {
			return c.(*lookupAnswer)
		}
	}
	out := make([]api.Instance, 0, len(res.Entries))
	for _, e := range res.Entries {
		out = append(out, h.a.toAPI(e))
	}
	body, err := json.Marshal(out)
	if err != nil {
		body = []byte("[]") // unreachable: the types always encode
	}
	ans := &lookupAnswer{at: res.Index, index: []string{strconv.FormatUint(index, 10)}, body: append(body, '\n')}
	if cacheable {
		h.cacheLookup(name, ans)
	}
	return ans
}

// Bounds of the lookup cache. It holds one answer per service looked up, so
// it stays within them unless services come and go under new names (the
// entries of services gone stay until the next reset); past either it
// starts over.
const (
	lookupCacheEntries = 4096
	lookupCacheBytes   = 64 << 20
)

func (h *httpServer) cacheLookup(name string, ans *lookupAnswer) {
	if len(ans.body) > lookupCacheBytes/8 {
		return // one huge answer would evict everything else
	}
	n, b := int64(1), int64(len(ans.body))
	if old, loaded := h.cache.Swap(name, ans); loaded {
		n, b = 0, b-int64(len(old.(*lookupAnswer).body))
	}
	if h.cached.entries.Add(n) > lookupCacheEntries || h.cached.bytes.Add(b) > lookupCacheBytes {
		// Concurrent lookups may count a little past the reset: the
		// counts are a bound, not a ledger, and the next reset squares them.
		h.cache.Clear()
		h.cached.entries.Store(0)
		h.cached.bytes.Store(0)
	}
}

// toFilter maps the API's query options to a catalog filter.
func toFilter(o api.QueryOptions) (catalog.Filter, error) {
	f := catalog.Filter{Tags: o.Tags, Meta: o.Meta, Zone: o.Zone}
	switch o.Health {
	case "":
	case api.HealthAny:
		f.Health = catalog.HealthAny
	default:
		h, err := catalog.ParseHealth(string(o.Health))
		if err != nil {
			return f, err
		}
		f.Health = catalog.HealthOnly(h)
	}
	return f, nil
}

func (h *httpServer) instance(w http.ResponseWriter, r *http.Request) {
	e, ok := h.a.cat.Instance(r.PathValue("node"), r.PathValue("id"))
	if !ok {
		api.WriteError(w, http.StatusNotFound, fmt.Sprintf("no instance %q on node %q", r.PathValue("id"), r.PathValue("node")))
		return
	}
	api.WriteJSON(w, http.StatusOK, h.a.toAPI(&e))
}

func (h *httpServer) members(w http.ResponseWriter, r *http.Request) {
	api.WriteJSON(w, http.StatusOK, h.a.Members())
}

// Members lists the cluster as SWIM sees it, sorted by name: the live members,
// and those that left or failed within the last day.
func (a *Agent) Members() []api.Member {
	node := a.Node()
	if node == nil {
		return []api.Member{}
	}
	ms := node.Members()
	out := make([]api.Member, 0, len(ms))
	live := make(map[string]bool, len(ms))
	own := a.ownFingerprint()
	for _, m := range ms {
		live[m.Name] = true
		am := toAPIMember(m)
		if m.Name == a.cfg.Node {
			am.Fingerprint = toAPIFingerprint(own) // as of the last tick, maybe newer than gossiped
		}
		if am.Fingerprint != nil {
			agrees := am.Fingerprint.Hash == hashHex(own.Hash)
			am.Agrees = &agrees
		}
		out = append(out, am)
	}
	a.mu.Lock()
	for name, d := range a.departed {
		if !live[name] {
			out = append(out, d.m)
		}
	}
	a.mu.Unlock()
	sortMembers(out)
	return out
}

// toAPIMember converts a gossip member, its metadata decoded (what cannot be
// decoded is left out).
func toAPIMember(m gossip.Member) api.Member {
	meta, _ := decodeMeta(m.Meta)
	am := api.Member{Name: m.Name, Addr: m.Addr, Port: int(m.Port), Status: memberStatus(m.State), Zone: meta.Zone, Version: meta.Version,
		ProbeFailures: m.ProbeFailures, LastProbeFailure: m.LastProbeFailure}
	if meta.Fingerprint != nil {
		am.Fingerprint = toAPIFingerprint(*meta.Fingerprint)
	}
	if m.RTT > 0 {
		am.RTTMillis = math.Round(float64(m.RTT)/float64(time.Microsecond)) / 1000 // µs precision
	}
	if meta.HTTP != "" {
		am.Meta = map[string]string{"http": meta.HTTP}
	}
	return am
}

func memberStatus(s gossip.MemberState) api.MemberStatus {
	switch s {
	case gossip.StateSuspect:
		return api.MemberSuspect
	case gossip.StateDead:
		return api.MemberFailed
	case gossip.StateLeft:
		return api.MemberLeft
	}
	return api.MemberAlive
}

func (h *httpServer) self(w http.ResponseWriter, r *http.Request) {
	api.WriteJSON(w, http.StatusOK, h.a.Self())
}

// Self describes this agent (GET /v1/agent/self).
func (a *Agent) Self() api.AgentSelf {
	st := a.cat.Stats()
	out := api.AgentSelf{
		Version: Version, Protocol: ProtocolVersion, Node: a.cfg.Node, Zone: a.cfg.Zone, Epoch: st.Epoch,
		Catalog: api.CatalogStats{
			Hash: hashHex(st.Hash), Instances: st.Instances, Services: st.Services,
			Origins: st.Origins, Tombstones: st.Tombstones,
		},
		Digest: make(map[string]api.DigestEntry, len(st.Digest)),
		Preservation: api.Preservation{
			Active: st.Preservation.Active, Since: st.Preservation.Since,
			Unreachable: st.Preservation.Unreachable, Known: st.Preservation.Known,
		},
		Gossip:      a.gossipSecurity(),
		Fingerprint: *toAPIFingerprint(a.ownFingerprint()),
		Agreement:   a.Agreement(),
		Warnings:    a.warnings(),
	}
	for origin, v := range st.Digest {
		out.Digest[origin] = api.DigestEntry{Epoch: v.Epoch, Applied: v.Applied}
	}
	for _, m := range a.Members() {
		switch m.Status {
		case api.MemberAlive:
			out.Members.Alive++
		case api.MemberSuspect:
			out.Members.Suspect++
		case api.MemberLeft:
			out.Members.Left++
		case api.MemberFailed:
			out.Members.Failed++
		}
	}
	return out
}

func hashHex(h uint64) string { return fmt.Sprintf("%016x", h) }

// toAPI converts a served catalog entry to the wire type.
func (a *Agent) toAPI(e *catalog.Entry) api.Instance {
	tags := e.Tags
	if tags == nil {
		tags = []string{}
	}
	meta := e.Meta
	if meta == nil {
		meta = map[string]string{}
	}
	return api.Instance{
		ID: e.ID, Service: e.Service, Node: e.Node, Address: a.instanceAddress(&e.Instance), Port: e.Port,
		Tags: tags, Meta: meta, Zone: e.Zone, Health: api.Health(e.Health.String()), Output: e.Output,
		Stale: e.Stale, AgeMillis: e.Age.Milliseconds(),
		Version: api.Version{Epoch: e.Version.Epoch, Seq: e.Version.Seq},
	}
}
