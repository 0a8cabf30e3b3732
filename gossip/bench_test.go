package gossip_test

import (
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/grapevine-sd/grapevine/crdt"
	"github.com/grapevine-sd/grapevine/gossip"
	"github.com/grapevine-sd/grapevine/gossip/gossiptest"
	"github.com/grapevine-sd/grapevine/sim/simnet"
)

// arrivals counts, per change, the nodes holding it and when the last arrived.
type arrivals struct {
	mu     sync.Mutex
	origin string
	seq    uint64
	want   int
	got    int
	done   chan time.Time
}

func (a *arrivals) expect(origin string, seq uint64, want int) <-chan time.Time {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.origin, a.seq, a.want, a.got = origin, seq, want, 0
	a.done = make(chan time.Time, 1)
	return a.done
}

func (a *arrivals) saw(d crdt.Delta) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.done == nil || d.Origin != a.origin {
		return
	}
	for _, e := range d.Entries {
		if e.Seq == a.seq {
			a.got++
			if a.got == a.want {
				a.done <- time.Now()
			}
			return
		}
	}
}

// watchStore reports every delta that brought something new.
type watchStore struct {
	*gossiptest.MemStore
	a *arrivals
}

func (w watchStore) Merge(d crdt.Delta) (crdt.MergeResult, error) {
	res, err := w.MemStore.Merge(d)
	if err == nil && res.New {
		w.a.saw(d)
	}
	return res, err
}

// benchCluster starts n nodes over a network with a fixed one-way latency and
// waits for full membership.
func benchCluster(b testing.TB, n int, latency time.Duration, tweak func(*gossip.Config)) (*simnet.Network, []*tnode, []*gossip.Node, *arrivals) {
	b.Helper()
	cfg := simnet.DefaultConfig()
	cfg.DefaultLink = simnet.LinkConfig{Latency: latency, Distribution: simnet.Fixed}
	cfg.InboxSize = 4096
	nw := newNet(b, cfg)
	a := &arrivals{}
	var tns []*tnode
	var nodes []*gossip.Node
	for i := range n {
		addr := simnet.Addr(i)
		tr, err := nw.Transport(addr)
		if err != nil {
			b.Fatal(err)
		}
		name := fmt.Sprintf("n%03d", i)
		c := testConfig(name, tr)
		if tweak != nil {
			tweak(&c)
		}
		st := gossiptest.NewMemStore(name, 1)
		nd, err := gossip.New(c, watchStore{st, a})
		if err != nil {
			b.Fatal(err)
		}
		tns = append(tns, &tnode{name: name, addr: addr, store: st, node: nd})
		nodes = append(nodes, nd)
	}
	for _, tn := range tns[1:] {
		if _, err := tn.node.Join(b.Context(), []string{tns[0].addr}); err != nil {
			b.Fatal(err)
		}
	}
	waitFor(b, 2*time.Minute, "membership", func() bool { return members(tns, n) && converged(tns) })
	return nw, tns, nodes, a
}

// propagate makes change i at node i%n and returns how long it took to reach
// every other node.
func propagate(t testing.TB, tns []*tnode, a *arrivals, i int) time.Duration {
	n := len(tns)
	src := tns[i%n]
	d := src.store.Put(fmt.Sprintf("k%d", i), []byte("10.0.0.1:80"))
	done := a.expect(src.name, d.To, n-1)
	start := time.Now()
	src.node.Publish(d)
	select {
	case at := <-done:
		return at.Sub(start)
	case <-time.After(30 * time.Second):
		t.Fatalf("change %d did not reach all %d nodes in 30s", i, n)
		return 0
	}
}

func closeBench(b testing.TB, nw *simnet.Network, tns []*tnode) {
	for _, tn := range tns {
		tn.node.Close()
	}
	nw.Close()
}

// BenchmarkPropagation: time for one change to reach every node, p50 and p99
// over b.N changes, and p99 as a multiple of the one-way link latency.
func BenchmarkPropagation(b *testing.B) {
	const latency = 5 * time.Millisecond
	for _, n := range []int{10, 50, 200} {
		for _, eager := range []bool{true, false} {
			mode := "eager"
			if !eager {
				mode = "piggyback"
			}
			b.Run(fmt.Sprintf("nodes=%d/%s", n, mode), func(b *testing.B) {
				nw, tns, _, a := benchCluster(b, n, latency, func(c *gossip.Config) {
					if !eager {
						c.Fanout = -1
					}
					c.SyncInterval = 0 // measure dissemination, not anti-entropy
				})
				defer closeBench(b, nw, tns)
				var took []time.Duration
				b.ResetTimer()
				for i := range b.N {
					took = append(took, propagate(b, tns, a, i))
				}
				b.StopTimer()
				slices.Sort(took)
				p := func(q float64) time.Duration { return took[int(q*float64(len(took)-1))] }
				b.ReportMetric(float64(p(0.5).Microseconds())/1000, "p50-ms")
				b.ReportMetric(float64(p(0.99).Microseconds())/1000, "p99-ms")
				b.ReportMetric(float64(p(0.99))/float64(latency), "x-latency")
			})
		}
	}
}

// BenchmarkSteadyBytes: bytes sent per node per second (packets and streams,
// memberlist's own traffic included) with no changes, for 0 and 10k records.
func BenchmarkSteadyBytes(b *testing.B) {
	const n = 10
	for _, records := range []int{0, 10000} {
		b.Run(fmt.Sprintf("records=%d", records), func(b *testing.B) {
			nw, tns, _, _ := benchCluster(b, n, time.Millisecond, func(c *gossip.Config) {
				c.SyncInterval = 500 * time.Millisecond
				c.PushPullInterval = time.Second
			})
			defer closeBench(b, nw, tns)
			for i := range records {
				tn := tns[i%n]
				tn.store.Put(fmt.Sprintf("svc-%d", i), []byte("10.0.0.1:8080 tags=a,b"))
			}
			waitFor(b, 2*time.Minute, "records to spread", func() bool { return converged(tns) })
			var sent atomic.Uint64
			total := func() uint64 {
				t := nw.Totals()
				return t.BytesSent + t.StreamBytesSent
			}
			b.ResetTimer()
			for range b.N {
				before := total()
				start := time.Now()
				time.Sleep(3 * time.Second) // a measurement window, not a wait for a condition
				sent.Add(uint64(float64(total()-before) / time.Since(start).Seconds() / n))
			}
			b.ReportMetric(float64(sent.Load())/float64(b.N), "bytes/node/s")
		})
	}
}
