package agent

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"github.com/grapevine-sd/grapevine/api"
	"github.com/rs/zerolog"
)

// How to protect an HTTP route (every listener of the agent does this):
//
//	g := a.newGuard(addr, "")                     // one per listener
//	mux.Handle("GET /v1/x", g.Require(PolicyRead, h.x))
//	mux.Handle("PUT /v1/x/{id}", g.Require(PolicyWrite, h.putX))
//	mux.Handle("GET /ui", g.Public(h.ui))         // no data: no token needed
//	srv, err := a.serveGuarded(addr, g, mux)     // conn caps, TLS, timeouts
//
// and in a write handler, before changing anything:
//
//	if err := Authorize(r, service, instanceID); err != nil { writeErr(w, err); return }
//
// The guard wrapped around the mux (serveGuarded does it) checks, for every
// request: the Host header (DNS rebinding), cross-origin browser writes, the
// token (401 if it is unknown), and reads the body within the body timeout
// and size limit. Require then checks the route's policy (401 without a
// token, 403 if the token's policy is lower) and audits writes in the log;
// Authorize checks that a write token covers the service the request touches
// (403 otherwise) and names it in the audit line. A listener that accepts
// other token headers passes TokenSources to newGuard (the Consul-compatible
// listener: HeaderToken("X-Consul-Token"), QueryToken("token")).

// ErrForbidden wraps every refusal of an authenticated (or anonymous) request
// that its token does not cover (HTTP 403).
var ErrForbidden = errors.New("agent: forbidden")

// TokenSource finds a request's token. ok is false when the request carries
// none there; err reports a malformed one (401).
type TokenSource func(r *http.Request) (secret string, ok bool, err error)

// BearerToken reads "Authorization: Bearer <token>".
func BearerToken(r *http.Request) (string, bool, error) {
	h, ok := r.Header["Authorization"]
	if !ok {
		return "", false, nil
	}
	if len(h) != 1 {
		return "", false, errors.New("more than one Authorization header")
	}
	tok, err := parseBearer(h[0])
	return tok, err == nil, err
}

// parseBearer parses an Authorization header value of the Bearer scheme
// (RFC 6750: the scheme is case-insensitive, one token follows).
func parseBearer(v string) (string, error) {
	scheme, tok, ok := strings.Cut(strings.TrimSpace(v), " ")
	if !ok || !strings.EqualFold(scheme, "bearer") {
		//lint:ignore ST1005 it starts with the header's name
		return "", errors.New("Authorization header: want Bearer <token>")
	}
	tok = strings.TrimSpace(tok)
	if err := checkPresented(tok); err != nil {
		//lint:ignore ST1005 it starts with the header's name
		return "", fmt.Errorf("Authorization header: %v", err)
	}
	return tok, nil
}

// checkPresented validates a token as presented by a client.
func checkPresented(tok string) error {
	switch {
	case tok == "":
		return errors.New("empty token")
	case len(tok) > maxTokenSecret:
		return fmt.Errorf("token longer than %d bytes", maxTokenSecret)
	case !printable(tok):
		return errors.New("token has spaces or unprintable characters")
	}
	return nil
}

// HeaderToken reads the token from header name (X-Grapevine-Token,
// X-Consul-Token).
func HeaderToken(name string) TokenSource {
	key, what := http.CanonicalHeaderKey(name), name+" header"
	return func(r *http.Request) (string, bool, error) {
		v, ok := r.Header[key]
		return onlyToken(v, ok, what)
	}
}

// QueryToken reads the token from the URL query parameter name (Consul's
// ?token=). Tokens in URLs end up in proxies' logs: the native API does not
// take them.
func QueryToken(name string) TokenSource {
	what := name + " parameter"
	return func(r *http.Request) (string, bool, error) {
		// Without name or an escape in the query it cannot hold the
		// parameter: no need to decode it.
		if q := r.URL.RawQuery; !strings.Contains(q, name) && !strings.Contains(q, "%") {
			return "", false, nil
		}
		v, ok := r.URL.Query()[name]
		return onlyToken(v, ok, what)
	}
}

// onlyToken checks that a header or parameter holds exactly one valid token.
func onlyToken(vals []string, present bool, what string) (string, bool, error) {
	switch {
	case !present:
		return "", false, nil
	case len(vals) != 1:
		return "", false, fmt.Errorf("more than one %s", what)
	}
	if err := checkPresented(vals[0]); err != nil {
		return "", false, fmt.Errorf("%s: %v", what, err)
	}
	return vals[0], true, nil
}

// writeTimeout bounds how long one answer may take to be written: the
// longest blocking query (api.MaxWait plus its jitter) and a minute for a
// slow network.
const writeTimeout = api.MaxWait + api.MaxWait/16 + time.Minute

// TokenHeader is the native API's token header besides Authorization.
const TokenHeader = "X-Grapevine-Token"

// Guard protects one HTTP listener; see the comment at the top of this file.
// Safe for concurrent use.
type Guard struct {
	a       *Agent
	acl     *acl
	hosts   *hostCheck
	cop     *http.CrossOriginProtection
	sources []TokenSource
	body    time.Duration // body read timeout
	log     zerolog.Logger
	// routePrefix starts the route label of this listener's request
	// metrics ("consul " on the Consul listener).
	routePrefix string
	// jsonErrors: the mux's own plain-text 404 and 405 are answered as
	// {"error": ...} (the native API; Consul's errors are plain text).
	jsonErrors bool
	// unmatched are the metrics of requests no route served.
	unmatched *routeMetrics
}

// newGuard returns the guard of a listener on addr: Authorization: Bearer and
// X-Grapevine-Token carry tokens, plus the extra sources given.
func (a *Agent) newGuard(addr, routePrefix string, extra ...TokenSource) *Guard {
	return &Guard{
		routePrefix: routePrefix, unmatched: a.newRouteMetrics("", routePrefix+"unmatched"),
		a: a, acl: a.acl, hosts: newHostCheck(a.cfg, addr), cop: http.NewCrossOriginProtection(),
		sources: append([]TokenSource{BearerToken, HeaderToken(TokenHeader)}, extra...),
		body:    a.cfg.HTTPConfig.BodyTimeout,
		log:     a.cfg.Logger.With().Str("component", "http").Logger(),
	}
}

// access is what the guard learned about a request: the request's
// guardWriter carries it to the route (Require), and a write's context
// carries a copy to Authorize.
type access struct {
	g        *Guard
	tok      *token // nil: no token
	service  string // set by Authorize, for the audit line
	instance string
}

type accessKey struct{}

func accessOf(r *http.Request) *access {
	ac, _ := r.Context().Value(accessKey{}).(*access)
	return ac
}

// Wrap applies the per-request checks of every route to next, and counts
// what next answers (grapevine_http_requests_total and _duration_seconds,
// by the route that served it). next receives a *guardWriter, which the
// routes (Require, Public) need: a route reached any other way answers 500.
// A client that stops reading its answer holds the connection at most
// writeTimeout (serveGuarded sets it per request; streams extend it per
// event, see stream.go).
func (g *Guard) Wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		cs, _ := r.Context().Value(connKey{}).(*connState)
		// A connection's requests carry the same Host: the one its last
		// request was allowed with is not judged again.
		if cs == nil || cs.host == "" || cs.host != r.Host {
			if !g.hosts.allowed(r.Host) {
				g.reject(w, http.StatusForbidden, "host", fmt.Sprintf("host %q is not one of this agent's names (add it to http_config.allowed_hosts)", r.Host))
				return
			}
			if cs != nil {
				cs.host = r.Host
			}
		}
		// url.Values drops pairs it cannot decode: "?%zz&index=5" would
		// silently lose a filter. Refuse the whole query instead.
		if err := checkQuery(r.URL.RawQuery); err != nil {
			api.WriteError(w, http.StatusBadRequest, "malformed query string: "+err.Error())
			return
		}
		if err := g.cop.Check(r); err != nil {
			g.reject(w, http.StatusForbidden, "cross_origin", "cross-origin browser requests may not change anything")
			return
		}
		var tok *token
		if g.acl.enabled { // without the ACL tokens are ignored, even malformed ones
			secret, found, err := g.token(r)
			if err != nil {
				g.unauthorized(w, err.Error())
				return
			}
			if found {
				if tok = g.acl.lookup(secret); tok == nil {
					g.unauthorized(w, "unknown token")
					return
				}
			}
		}
		if !g.readBody(w, r) {
			return
		}
		gw := g.writer(w, cs, tok)
		next.ServeHTTP(gw, r)
		gw.done(time.Since(start))
	})
}

// checkQuery reports whether url.ParseQuery would fail on a raw query,
// without building the url.Values: a query without ';' whose '%' escapes
// are all two hex digits decodes (url.ParseQuery's only other refusal, more
// than its parameter limit, is left to it).
func checkQuery(q string) error {
	if q == "" {
		return nil
	}
	ok := strings.Count(q, "&") < 1000
	for i := 0; ok && i < len(q); i++ {
		switch q[i] {
		case ';':
			ok = false
		case '%':
			ok = i+2 < len(q) && isHex(q[i+1]) && isHex(q[i+2])
			i += 2
		}
	}
	if ok {
		return nil
	}
	_, err := url.ParseQuery(q)
	return err
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

// token finds the request's token: the first source that has one.
func (g *Guard) token(r *http.Request) (string, bool, error) {
	for _, src := range g.sources {
		tok, ok, err := src(r)
		if err != nil || ok {
			return tok, ok, err
		}
	}
	return "", false, nil
}

// readBody reads the request body into memory within the body timeout and
// api.MaxRequestBytes, so a client dribbling its body holds a connection for
// at most that long. False: an error was answered.
func (g *Guard) readBody(w http.ResponseWriter, r *http.Request) bool {
	if r.Body == nil || r.Body == http.NoBody {
		return true
	}
	if r.ContentLength > api.MaxRequestBytes {
		w.Header().Set("Connection", "close")
		g.reject(w, http.StatusRequestEntityTooLarge, "body_too_large", fmt.Sprintf("request body of %d bytes, limit %d", r.ContentLength, api.MaxRequestBytes))
		return false
	}
	rc := http.NewResponseController(w)
	_ = rc.SetReadDeadline(time.Now().Add(g.body))
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, api.MaxRequestBytes))
	if err == nil {
		_ = rc.SetReadDeadline(time.Time{})
		r.Body = io.NopCloser(bytes.NewReader(b))
		return true
	}
	// The deadline stays in the past: net/http would otherwise read what is
	// left of the body after the answer, as slowly as the client sends it.
	_ = rc.SetReadDeadline(time.Now())
	var mbe *http.MaxBytesError
	switch {
	case errors.Is(err, os.ErrDeadlineExceeded):
		w.Header().Set("Connection", "close")
		g.reject(w, http.StatusRequestTimeout, "body_timeout", fmt.Sprintf("request body not received within %v", g.body))
	case errors.As(err, &mbe):
		w.Header().Set("Connection", "close")
		g.reject(w, http.StatusRequestEntityTooLarge, "body_too_large", fmt.Sprintf("request body larger than %d bytes", api.MaxRequestBytes))
	default:
		w.Header().Set("Connection", "close")
		g.reject(w, http.StatusBadRequest, "body_read", "reading the request body failed")
	}
	return false
}

func (g *Guard) reject(w http.ResponseWriter, code int, reason, msg string) {
	g.a.countRejected(reason)
	api.WriteError(w, code, msg)
}

func (g *Guard) unauthorized(w http.ResponseWriter, msg string) {
	w.Header().Set("WWW-Authenticate", `Bearer realm="grapevine"`)
	g.reject(w, http.StatusUnauthorized, "unauthenticated", msg)
}

// Require lets requests whose token (or the anonymous default) reaches p
// through to h. Routes of PolicyWrite and PolicyOperator are audited: one log
// line per request with the token's name, method, path, service, instance
// and status. A PolicyWrite handler must call Authorize before it changes
// anything.
func (g *Guard) Require(p Policy, h http.HandlerFunc) http.Handler {
	return &route{g: g, policy: p, h: h}
}

// Public lets every request that passed Wrap through to h, token or not: for
// routes that hold no data (the web console's static files, a redirect).
func (g *Guard) Public(h http.HandlerFunc) http.Handler {
	return &route{g: g, public: true, h: h}
}

// route is one route behind a Guard: its policy, and its request metrics
// resolved once (no label lookup per request).
type route struct {
	g       *Guard
	policy  Policy
	public  bool
	h       http.HandlerFunc
	metrics atomic.Pointer[routeMetrics]
}

func (rt *route) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	gw, ok := w.(*guardWriter)
	if !ok || gw.ac.g != rt.g { // not behind this guard's Wrap: a programming error, fail closed
		api.WriteError(w, http.StatusInternalServerError, "route not guarded")
		return
	}
	gw.route = rt.metricsFor(r.Pattern)
	if rt.public {
		rt.h(gw, r)
		return
	}
	g, p, ac := rt.g, rt.policy, &gw.ac
	if g.acl.enabled {
		have := g.acl.anonymous()
		if ac.tok != nil {
			have = ac.tok.policy
		}
		if have < p {
			code := http.StatusForbidden
			if ac.tok == nil {
				code = http.StatusUnauthorized
				g.unauthorized(gw, fmt.Sprintf("this request needs a token with policy %s", p))
			} else {
				g.reject(gw, code, "forbidden", fmt.Sprintf("token %q has policy %s; this request needs %s", ac.tok.name, ac.tok.policy, p))
			}
			g.audit(r, ac, p, code)
			return
		}
	}
	if p < PolicyWrite {
		rt.h(gw, r)
		return
	}
	// A write's own copy of the access, for Authorize and the audit line
	// (gw's is reused by the connection's next request).
	wac := *ac
	rt.h(gw, r.WithContext(context.WithValue(r.Context(), accessKey{}, &wac)))
	g.audit(r, &wac, p, gw.code)
}

// metricsFor is the route's metrics under pattern (the mux's pattern for
// it), resolved on its first request.
func (rt *route) metricsFor(pattern string) *routeMetrics {
	if m := rt.metrics.Load(); m != nil && m.pattern == pattern {
		return m
	}
	m := rt.g.a.newRouteMetrics(pattern, rt.g.routePrefix+pattern)
	rt.metrics.Store(m)
	return m
}

// audit logs one write (or refused write) request. Never the secret.
func (g *Guard) audit(r *http.Request, ac *access, p Policy, code int) {
	if p < PolicyWrite {
		return
	}
	name := "anonymous"
	if ac.tok != nil {
		name = ac.tok.name
	} else if !g.acl.enabled {
		name = "none (acl disabled)"
	}
	result := "ok"
	if code >= 400 {
		result = "refused"
	}
	g.log.Info().Str("audit", "write").Str("token", name).Str("method", r.Method).Str("path", r.URL.Path).
		Str("service", ac.service).Str("instance", ac.instance).Int("status", code).Str("result", result).
		Str("remote", r.RemoteAddr).Msg("api write")
}

// Authorize checks that the request's token may write service (an empty
// service is checked as no service at all: only operators pass) and records
// service and instance for the audit line. With the ACL disabled it only
// records. The error wraps ErrForbidden.
func Authorize(r *http.Request, service, instance string) error {
	ac := accessOf(r)
	if ac == nil {
		return fmt.Errorf("%w: route not guarded", ErrForbidden)
	}
	if ac.service == "" {
		ac.service, ac.instance = service, instance
	} else if service != "" && service != ac.service {
		ac.service += "," + service
	}
	if !ac.g.acl.enabled {
		return nil
	}
	var err error
	switch {
	case ac.tok == nil:
		err = fmt.Errorf("%w: no token may write service %q", ErrForbidden, service)
	case !ac.tok.covers(service):
		err = fmt.Errorf("%w: token %q may not write service %q", ErrForbidden, ac.tok.name, service)
	}
	if err != nil {
		ac.g.a.countRejected("forbidden")
	}
	return err
}
