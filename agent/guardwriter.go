package agent

import (
	"context"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/grapevine-sd/grapevine/api"
)

// guardWriter is the ResponseWriter every guarded route receives (Guard.Wrap
// makes it): it carries what the guard learned about the request to the
// route, records the status for the metrics and the audit line, and on the
// native listener answers the mux's own plain-text 404 and 405 as JSON.
//
// A lookup allocates nothing for it: each connection has one (connState),
// which its requests reuse one after the other. HTTP/1.1 serves a
// connection's requests in turn, on one goroutine (HTTP/2 is off), and a
// handler may not use its ResponseWriter after it returns.
type guardWriter struct {
	http.ResponseWriter
	ac      access
	code    int
	route   *routeMetrics // the route that served the request; nil: none did
	swallow bool          // the mux's error was rewritten: drop its text
	cs      *connState    // owner of this writer, nil if allocated for one request
}

// connState is what the guard keeps per connection.
type connState struct {
	gw   guardWriter
	busy bool   // gw serves a request (a nested one gets its own writer)
	host string // the Host the connection's last allowed request had
}

type connKey struct{}

// connContext is the http.Server's ConnContext: a connState per connection.
func connContext(ctx context.Context, _ net.Conn) context.Context {
	return context.WithValue(ctx, connKey{}, new(connState))
}

// writer returns the request's guardWriter: the connection's (cs, nil
// without one) when it is free.
func (g *Guard) writer(w http.ResponseWriter, cs *connState, tok *token) *guardWriter {
	var gw *guardWriter
	if cs != nil && !cs.busy {
		cs.busy = true
		gw = &cs.gw
	} else {
		gw, cs = new(guardWriter), nil
	}
	*gw = guardWriter{ResponseWriter: w, ac: access{g: g, tok: tok}, code: http.StatusOK, cs: cs}
	return gw
}

// done counts the answered request and frees the writer for the
// connection's next request.
func (gw *guardWriter) done(d time.Duration) {
	m := gw.route
	if m == nil {
		m = gw.ac.g.unmatched
	}
	m.observe(gw.code, d)
	if gw.cs != nil {
		gw.cs.busy = false
	}
}

func (gw *guardWriter) WriteHeader(code int) {
	gw.code = code
	if gw.route == nil && gw.ac.g.jsonErrors && code >= 400 {
		gw.swallow = true
		gw.Header().Del("X-Content-Type-Options")
		api.WriteError(gw.ResponseWriter, code, strings.ToLower(http.StatusText(code)))
		return
	}
	gw.ResponseWriter.WriteHeader(code)
}

func (gw *guardWriter) Write(b []byte) (int, error) {
	if gw.swallow {
		return len(b), nil
	}
	return gw.ResponseWriter.Write(b)
}

func (gw *guardWriter) Flush() {
	if f, ok := gw.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Unwrap lets http.ResponseController reach the connection (SSE deadlines).
func (gw *guardWriter) Unwrap() http.ResponseWriter { return gw.ResponseWriter }
