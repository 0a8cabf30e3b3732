package agent_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/grapevine-sd/grapevine/agent"
	"github.com/grapevine-sd/grapevine/agent/agenttest"
	"github.com/grapevine-sd/grapevine/api"
	"github.com/grapevine-sd/grapevine/catalog"
)

// benchAgent starts an agent holding service web with 100 passing instances.
func benchAgent(b *testing.B) (string, func(string, catalog.Filter) catalog.Result) {
	b.Helper()
	a := agenttest.Start(b, agenttest.Config(b, "node-a"))
	c := agenttest.Client(b, a)
	for i := range 100 {
		if _, err := c.Register(b.Context(), api.Registration{ID: fmt.Sprintf("web-%03d", i), Name: "web", Address: "10.0.0.1", Port: 8000 + i, Tags: []string{"v1"}}); err != nil {
			b.Fatal(err)
		}
	}
	return "http://" + a.HTTPAddr(), a.Catalog().Service
}

// BenchmarkHTTPLookup measures GET /v1/services/web (100 instances, the
// default filter) over keep-alive connections from parallel clients.
func BenchmarkHTTPLookup(b *testing.B) {
	base, _ := benchAgent(b)
	benchGets(b, base+"/v1/services/web", 100*100)
}

// benchGets runs GETs of url from parallel clients over keep-alive
// connections, each answer 200 with at least minBytes, and reports req/s.
func benchGets(b *testing.B, url string, minBytes int64) {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 64
	b.Cleanup(tr.CloseIdleConnections)
	hc := &http.Client{Transport: tr}
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			resp, err := hc.Get(url)
			if err != nil {
				b.Error(err)
				return
			}
			n, _ := io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 || n < minBytes {
				b.Errorf("status %d, %d bytes", resp.StatusCode, n)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "req/s")
}

// BenchmarkCatalogLookup is the in-process lookup through the agent's
// catalog: the precomputed default view, no filtering.
func BenchmarkCatalogLookup(b *testing.B) {
	_, lookup := benchAgent(b)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if r := lookup("web", catalog.Filter{}); len(r.Entries) != 100 {
			b.Fatalf("%d entries", len(r.Entries))
		}
	}
}

// BenchmarkCatalogLookupTag filters the 100 instances by a tag.
func BenchmarkCatalogLookupTag(b *testing.B) {
	_, lookup := benchAgent(b)
	f := catalog.Filter{Tags: []string{"v1"}}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if r := lookup("web", f); len(r.Entries) != 100 {
			b.Fatalf("%d entries", len(r.Entries))
		}
	}
}

// BenchmarkHTTPLookupHandler measures the handler path of GET
// /v1/services/web (3 instances, the default filter) without sockets: the
// guard, the mux, the route and the cached answer, as net/http calls them on
// one connection. allocs/op is what the agent allocates per lookup beyond
// net/http's own request parsing.
func BenchmarkHTTPLookupHandler(b *testing.B) {
	a := agenttest.Start(b, agenttest.Config(b, "node-a"))
	registerWeb(b, a, 3)
	h, ctx := a.HTTPHandlerForTest()
	benchHandler(b, h, ctx, "/v1/services/web")
}

// BenchmarkConsulHealthServiceHandler is BenchmarkHTTPLookupHandler for the
// Consul listener's GET /v1/health/service/web?passing.
func BenchmarkConsulHealthServiceHandler(b *testing.B) {
	cfg := agenttest.Config(b, "node-a")
	cfg.Consul.HTTP = "127.0.0.1:0"
	a := agenttest.Start(b, cfg)
	registerWeb(b, a, 3)
	h, ctx := a.ConsulHandlerForTest()
	benchHandler(b, h, ctx, "/v1/health/service/web?passing")
}

// registerWeb registers n instances of service web, as internal/benchhttp does.
func registerWeb(b *testing.B, a *agent.Agent, n int) {
	c := agenttest.Client(b, a)
	for i := range n {
		reg := api.Registration{ID: fmt.Sprintf("web-%d", i), Name: "web", Port: 8080 + i, Tags: []string{"v2", "http"},
			Meta: map[string]string{"version": "2.4.1"}}
		if _, err := c.Register(b.Context(), reg); err != nil {
			b.Fatal(err)
		}
	}
}

// benchHandler serves GET target through h, one request after the other as
// on one keep-alive connection, and checks each answer.
func benchHandler(b *testing.B, h http.Handler, ctx context.Context, target string) {
	req := httptest.NewRequest(http.MethodGet, target, nil).WithContext(ctx)
	req.Host = "127.0.0.1:8500"
	req.RemoteAddr = "127.0.0.1:40000"
	w := &discardWriter{h: http.Header{}}
	b.ReportAllocs()
	for b.Loop() {
		clear(w.h) // net/http gives each request a fresh header map
		w.code, w.n = 0, 0
		h.ServeHTTP(w, req) // the routing fields the mux sets are set anew each time
		if w.code != http.StatusOK || w.n < 500 {
			b.Fatalf("status %d, %d bytes", w.code, w.n)
		}
	}
}

// discardWriter is the ResponseWriter of benchHandler: it keeps the status
// and the answer's length, and accepts deadlines like net/http's.
type discardWriter struct {
	h    http.Header
	code int
	n    int
}

func (d *discardWriter) Header() http.Header { return d.h }
func (d *discardWriter) WriteHeader(code int) {
	if d.code == 0 {
		d.code = code
	}
}
func (d *discardWriter) Write(p []byte) (int, error) {
	if d.code == 0 {
		d.code = http.StatusOK
	}
	d.n += len(p)
	return len(p), nil
}
func (d *discardWriter) Flush()                           {}
func (d *discardWriter) SetReadDeadline(time.Time) error  { return nil }
func (d *discardWriter) SetWriteDeadline(time.Time) error { return nil }
