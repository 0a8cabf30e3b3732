package dnsserver

import (
	"context"
	"errors"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// fakeSource is an in-memory Source: services with their indexes, nodes.
type fakeSource struct {
	mu       sync.Mutex // guards services, index, nodes
	services map[string][]Instance
	index    map[string]uint64
	nodes    map[string]string
	next     uint64
	ver      atomic.Uint64
	calls    atomic.Int64 // Service calls (cache misses)
}

func newFakeSource() *fakeSource {
	return &fakeSource{services: map[string][]Instance{}, index: map[string]uint64{}, nodes: map[string]string{}}
}

func (f *fakeSource) set(service string, insts ...Instance) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.next++
	f.services[service] = insts
	f.index[service] = f.next
}

func (f *fakeSource) setNode(name, addr string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.nodes[name] = addr
	f.ver.Add(1)
}

func (f *fakeSource) Service(name string) (uint64, []Instance) {
	f.calls.Add(1)
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.index[name], append([]Instance(nil), f.services[name]...)
}

func (f *fakeSource) ServiceIndex(name string) uint64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.index[name]
}

func (f *fakeSource) NodeAddress(name string) (string, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for n, a := range f.nodes {
		if strings.EqualFold(n, name) {
			return a, true
		}
	}
	return "", false
}

func (f *fakeSource) Version() uint64 { return f.ver.Load() }

// fakeResolver answers host names from a map, after delay.
type fakeResolver struct {
	mu    sync.Mutex
	hosts map[string][]netip.Addr
	delay time.Duration
	asked map[string]int
}

func (r *fakeResolver) LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error) {
	r.mu.Lock()
	if r.asked == nil {
		r.asked = map[string]int{}
	}
	r.asked[host]++
	addrs, ok := r.hosts[host]
	d := r.delay
	r.mu.Unlock()
	select {
	case <-time.After(d):
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	if !ok {
		return nil, errors.New("no such host")
	}
	return append([]netip.Addr(nil), addrs...), nil
}

func (r *fakeResolver) count(host string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.asked[host]
}

// testSource is the catalog the golden tests answer from.
func testSource() *fakeSource {
	f := newFakeSource()
	f.setNode("n1", "192.168.1.1")
	f.setNode("N2", "192.168.1.2")
	f.setNode("node.with.dots", "192.168.1.3")
	f.set("web",
		Instance{Node: "n1", Address: "10.0.0.1", Port: 8080, Tags: []string{"primary"}, Zone: "z1"},
		Instance{Node: "n2", Address: "10.0.0.2", Port: 8081, Tags: []string{"Canary"}, Zone: "z2"},
		Instance{Node: "n3", Address: "fd00::3", Port: 8082, Zone: "z1"},
		Instance{Node: "n4", Address: "10.0.0.1", Port: 9090, Zone: "z1"}, // same IP: one A record
		Instance{Node: "n5", Address: "10.0.0.1", Port: 8080, Zone: "z2"}, // same IP and port: one SRV record
	)
	f.set("db",
		Instance{Node: "n1", Address: "192.168.1.1", NodeAddress: true, Port: 5432, Zone: "z1"},
		Instance{Node: "n2", Address: "db.example.com", Port: 5433, Zone: "z2"},
		Instance{Node: "n3", Address: "N2", Port: 5434, Zone: "z2"},
		Instance{Node: "n3", Address: "api.service.grapevine.", Port: 5435, Zone: "z2"},
	)
	f.set("api", Instance{Node: "n2", Address: "10.0.1.1", Port: 80, TTL: 60})
	f.set("old", Instance{Node: "n9", Address: "10.0.2.1", Port: 80, Stale: true})
	f.set("empty")
	var big []Instance
	for i := range 200 {
		big = append(big, Instance{Node: "n" + strconv.Itoa(i), Address: netip.AddrFrom4([4]byte{10, 1, byte(i / 250), byte(i%250 + 1)}).String(), Port: 1000 + i})
	}
	f.set("big", big...)
	return f
}

func testConfig(src Source) Config {
	c := DefaultConfig()
	c.Addr = "127.0.0.1:0"
	c.Domains = []string{"grapevine.", "consul."}
	c.Zone = "z1"
	c.Node = "n1"
	c.Source = src
	c.Resolver = &fakeResolver{hosts: map[string][]netip.Addr{
		"db.example.com": {netip.MustParseAddr("10.9.9.9"), netip.MustParseAddr("fd00::99")},
	}}
	c.Now = func() time.Time { return time.Unix(1700000000, 0) }
	return c
}

func startServer(t testing.TB, c Config) *Server {
	t.Helper()
	s, err := New(c)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Close(context.Background()); err != nil {
			t.Error(err)
		}
	})
	return s
}
