package probe

import (
	"context"
	"net"
	"testing"
	"time"
)

// BenchmarkParseCheck: decoding and validating one definition (register path).
func BenchmarkParseCheck(b *testing.B) {
	data := []byte(`{"id":"web","type":"http","target":"http://127.0.0.1:8080/health","interval":"5s","headers":{"Host":"x"},"rise":2,"fall":3}`)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseCheck(data); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkTCPProbe: one TCP connect probe on loopback.
func BenchmarkTCPProbe(b *testing.B) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			_ = c.Close()
		}
	}()
	p := tcpProbe(Check{Target: ln.Addr().String(), Timeout: time.Second})
	b.ReportAllocs()
	for b.Loop() {
		if st, out := p(context.Background()); st != Passing {
			b.Fatal(out)
		}
	}
}

// BenchmarkRecord: applying one result through the thresholds.
func BenchmarkRecord(b *testing.B) {
	r := &Runner{checks: map[string]*entry{}}
	e := &entry{check: Check{ID: "c", Rise: 1, Fall: 2}, state: Passing}
	r.checks["c"] = e
	now := time.Now()
	b.ReportAllocs()
	for b.Loop() {
		r.recordLocked(e, Passing, "ok", now)
	}
}
