package agent

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"

	"github.com/grapevine-sd/grapevine/internal/httpserve"
	"github.com/prometheus/client_golang/prometheus"
)

// guardMetrics count what the guards refuse.
type guardMetrics struct {
	rejected *prometheus.CounterVec
	conns    prometheus.Gauge
}

// rejectReasons are the reason labels of grapevine_http_rejected_total,
// created at zero so a dashboard sees them before the first refusal.
var rejectReasons = []string{
	"host", "cross_origin", "unauthenticated", "forbidden", "body_timeout", "body_too_large", "body_read",
	"conn_total", "conn_per_client", "exec_checks_disabled", "instance_limit", "check_limit", "check_target",
}

func newGuardMetrics(reg *prometheus.Registry) *guardMetrics {
	m := &guardMetrics{
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "grapevine_http_rejected_total",
			Help: "HTTP API requests and connections refused, by reason (host, cross_origin, unauthenticated, forbidden, body_timeout, body_too_large, conn_total, conn_per_client, exec_checks_disabled, instance_limit, check_limit, check_target).",
		}, []string{"reason"}),
		conns: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "grapevine_http_connections",
			Help: "Open connections to the agent's HTTP listeners.",
		}),
	}
	for _, r := range rejectReasons {
		m.rejected.WithLabelValues(r)
	}
	reg.MustRegister(m.rejected, m.conns)
	return m
}

// guardedServer is one HTTP listener run under a Guard.
type guardedServer struct {
	srv  *httpserve.Server
	ln   net.Listener
	done chan struct{}
	once sync.Once
	err  error
}

// serveGuarded listens on addr and serves h behind g: g.Wrap on every
// request, the connection caps, TLS when configured (mutual with
// verify_incoming), header, write and idle timeouts. The connection loop is
// httpserve's (HTTP/1.1 only: the body deadline is per connection, and
// guardWriter relies on a connection's requests being served in turn).
// Close it with close.
func (a *Agent) serveGuarded(addr string, g *Guard, h http.Handler) (*guardedServer, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("agent: http listen %s: %w", addr, err)
	}
	hc := a.cfg.HTTPConfig
	gm := a.guardMetrics
	tlsOn := a.tls != nil
	cl := newConnLimiter(ln, hc.MaxConns, hc.MaxConnsPerClient, !tlsOn,
		func(reason string) { gm.rejected.WithLabelValues(reason).Inc() },
		func(d int) { gm.conns.Add(float64(d)) })
	if hc.clientKey != nil {
		cl.key = hc.clientKey
	}
	var l net.Listener = cl
	if tlsOn {
		l = tls.NewListener(l, a.tls.serverConfig())
	}
	sc := httpserve.DefaultConfig()
	sc.Handler = g.Wrap(h)
	sc.HeaderTimeout = hc.HeaderTimeout
	// From the end of a request's header: a client that stops reading its
	// answer holds the connection at most this long.
	sc.WriteTimeout = writeTimeout
	sc.IdleTimeout = hc.IdleTimeout
	sc.MaxHeaderBytes = 64 << 10
	sc.ConnContext = connContext
	sc.Log = g.log
	srv, err := httpserve.New(sc)
	if err != nil {
		_ = ln.Close()
		return nil, fmt.Errorf("agent: http server %s: %w", addr, err)
	}
	s := &guardedServer{srv: srv, ln: ln, done: make(chan struct{})}
	go func() {
		defer close(s.done)
		if err := s.srv.Serve(l); err != nil && !errors.Is(err, httpserve.ErrServerClosed) {
			a.log.Error().Err(err).Str("addr", addr).Msg("http server stopped")
		}
	}()
	return s, nil
}

// Addr is the bound address.
func (s *guardedServer) Addr() string { return s.ln.Addr().String() }

// close shuts the server down, ending blocking queries and streams, and waits.
func (s *guardedServer) close(ctx context.Context) error {
	s.once.Do(func() {
		if s.err = s.srv.Shutdown(ctx); s.err != nil {
			s.err = s.srv.Close()
		}
		<-s.done
	})
	return s.err
}
