package simnet

import (
	"fmt"
	"io"
	"testing"
	"testing/synctest"
	"time"

	"github.com/grapevine-sd/grapevine/internal/leaktest"
	"github.com/hashicorp/memberlist"
)

// cluster is n real memberlist nodes on one Network.
type cluster struct {
	nw    *Network
	addrs []string
	ms    []*memberlist.Memberlist
}

func memberlistConfig(t testing.TB, tr *Transport, name string, local bool) *memberlist.Config {
	t.Helper()
	c := memberlist.DefaultLANConfig()
	if local {
		c = memberlist.DefaultLocalConfig()
	}
	c.Name = name
	c.Transport = tr
	c.EnableCompression = false // the CPU bottleneck in-process (docs/hazards.md)
	c.LogOutput = io.Discard
	return c
}

// newCluster starts n nodes; a t.Cleanup shuts them down (again) and, under
// synctest, lets their in-flight probes end so a failing test reports its
// failure rather than a bubble deadlock.
func newCluster(t testing.TB, nw *Network, n int, local bool) *cluster {
	t.Helper()
	c := &cluster{nw: nw}
	t.Cleanup(func() {
		if t.Failed() {
			c.shutdown(t)
			time.Sleep(20 * time.Second) // virtual under synctest
		}
	})
	for i := range n {
		c.start(t, i, local)
	}
	return c
}

// start creates (or restarts) node i.
func (c *cluster) start(t testing.TB, i int, local bool) {
	t.Helper()
	addr := Addr(i)
	tr, err := c.nw.Transport(addr)
	if err != nil {
		t.Fatalf("Transport(%s): %v", addr, err)
	}
	m, err := memberlist.Create(memberlistConfig(t, tr, fmt.Sprintf("node-%d", i), local))
	if err != nil {
		t.Fatalf("memberlist.Create: %v", err)
	}
	if i < len(c.ms) {
		c.ms[i] = m
		return
	}
	c.addrs = append(c.addrs, addr)
	c.ms = append(c.ms, m)
}

func (c *cluster) join(t testing.TB, i int, seeds ...string) {
	t.Helper()
	if _, err := c.ms[i].Join(seeds); err != nil {
		t.Fatalf("node %d join %v: %v", i, seeds, err)
	}
}

// alive returns how many members node i sees alive.
func (c *cluster) alive(i int) int {
	k := 0
	for _, m := range c.ms[i].Members() {
		if m.State == memberlist.StateAlive {
			k++
		}
	}
	return k
}

// waitFor polls cond every 100ms (virtual time under synctest) until it holds
// or d passes.
func waitFor(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (c *cluster) waitAlive(t testing.TB, d time.Duration, nodes []int, want int) {
	t.Helper()
	waitFor(t, d, fmt.Sprintf("nodes %v to see %d alive", nodes, want), func() bool {
		for _, i := range nodes {
			if c.alive(i) != want {
				return false
			}
		}
		return true
	})
}

func (c *cluster) shutdown(t testing.TB) {
	t.Helper()
	for _, m := range c.ms {
		if err := m.Shutdown(); err != nil {
			t.Errorf("memberlist shutdown: %v", err)
		}
	}
	c.nw.Close()
}

func TestMemberlistSynctest(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		nw := newNet(t, DefaultConfig())
		c := newCluster(t, nw, 5, false)
		all := []int{0, 1, 2, 3, 4}
		for i := 1; i < 5; i++ {
			c.join(t, i, c.addrs[0])
		}
		// Each node knows node 0 and those before it from its join; the rest
		// arrives by gossip, whose few retransmissions can all miss one node
		// (about 1 run in 200): push/pull (every 30 s at LAN defaults) then
		// repairs it. The deadline covers two push/pull rounds (virtual time).
		c.waitAlive(t, 60*time.Second, all, 5)

		// Crash node 4: the others declare it dead.
		start := time.Now()
		nw.Crash(c.addrs[4])
		c.waitAlive(t, 60*time.Second, all[:4], 4)
		t.Logf("crash detected after %v (virtual)", time.Since(start))

		// Partition {0,1} | {2,3}: each side sees only itself.
		nw.Partition(c.addrs[:2], c.addrs[2:4])
		c.waitAlive(t, 60*time.Second, []int{0, 1}, 2)
		c.waitAlive(t, 60*time.Second, []int{2, 3}, 2)

		// Heal, restart node 4 at the same address, and rejoin explicitly.
		nw.Heal()
		c.ms[4].Shutdown()
		c.start(t, 4, false)
		c.join(t, 0, c.addrs[2])
		c.join(t, 4, c.addrs[0])
		c.waitAlive(t, 60*time.Second, all, 5)
		t.Logf("merged after heal at %v (virtual)", time.Since(start))

		tot := nw.Totals()
		if tot.PacketsReceived == 0 || tot.StreamsAccepted == 0 {
			t.Errorf("totals %+v: want packets and streams", tot)
		}
		t.Logf("totals %+v", tot)
		c.shutdown(t)
		// synctest.Test fails if any goroutine of the bubble is left blocked;
		// memberlist's in-flight probes end within its TCP timeout.
		time.Sleep(20 * time.Second)
	})
}

func TestMemberlistRealTime(t *testing.T) {
	leaktest.Check(t, 15*time.Second)
	cfg := DefaultConfig()
	cfg.DefaultLink = LinkConfig{Latency: 100 * time.Microsecond, Jitter: 100 * time.Microsecond}
	nw := newNet(t, cfg)
	c := newCluster(t, nw, 3, true)
	c.join(t, 1, c.addrs[0])
	c.join(t, 2, c.addrs[0])
	c.waitAlive(t, 10*time.Second, []int{0, 1, 2}, 3)
	c.shutdown(t)
}
