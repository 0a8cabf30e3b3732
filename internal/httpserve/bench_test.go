package httpserve

import (
	"bytes"
	"net/http"
	"strings"
	"testing"
)

// BenchmarkServe measures the loop's own cost per request: b.N pipelined
// lookups read from memory and answered into memory (no sockets), each
// answered with 692 bytes as the agent's 3-instance lookup is.
func BenchmarkServe(b *testing.B) {
	body := []byte(strings.Repeat("x", 692))
	cfg := DefaultConfig()
	cfg.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header()["Content-Type"] = []string{"application/json"}
		_, _ = w.Write(body)
	})
	s, err := New(cfg)
	if err != nil {
		b.Fatal(err)
	}
	req := "GET /v1/services/web HTTP/1.1\r\nHost: 127.0.0.1:8500\r\nUser-Agent: wrk\r\n\r\n"
	in := bytes.Repeat([]byte(req), b.N)
	fc := &fakeConn{in: bytes.NewReader(in), discard: true}
	b.ReportAllocs()
	b.ResetTimer()
	newConn(s, fc).serve()
	if fc.n != int64(b.N) {
		b.Fatalf("%d answers for %d requests", fc.n, b.N)
	}
}
