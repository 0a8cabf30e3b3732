package agent_test

import (
	"fmt"
	"io"
	"net/http"
	"testing"

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
