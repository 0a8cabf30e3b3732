package gossip_test

import (
	"context"
	"fmt"
	"maps"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/grapevine-sd/grapevine/crdt"
	"github.com/grapevine-sd/grapevine/gossip"
	"github.com/grapevine-sd/grapevine/gossip/gossiptest"
	"github.com/grapevine-sd/grapevine/sim/simnet"
	"github.com/hashicorp/memberlist"
)

// tnode is one node of a test cluster.
type tnode struct {
	name  string
	addr  string
	store *gossiptest.MemStore
	node  *gossip.Node
}

type cluster struct {
	t      testing.TB
	nw     *simnet.Network
	nodes  []*tnode
	closed bool
}

// testConfig is the config of test nodes: compression off (many nodes in one
// process), faster anti-entropy and rejoin so tests take few virtual seconds.
func testConfig(name string, tr memberlist.Transport) gossip.Config {
	cfg := gossip.DefaultConfig()
	cfg.Name = name
	cfg.Transport = tr
	cfg.EnableCompression = false
	cfg.SyncInterval = time.Second
	cfg.PushPullInterval = 5 * time.Second
	cfg.RejoinInterval = 2 * time.Second
	return cfg
}

// newCluster returns an empty cluster on nw. A test that fails before its
// close (t.Fatal inside a synctest bubble) is closed by a cleanup, so it
// reports its failure instead of a bubble deadlock ("blocked goroutines
// remain") that aborts the whole test binary.
func newCluster(t testing.TB, nw *simnet.Network) *cluster {
	c := &cluster{t: t, nw: nw}
	t.Cleanup(func() {
		if !c.closed {
			c.close()
		}
	})
	return c
}

// add starts node i (not joined); tweak adjusts its config.
func (c *cluster) add(tweak func(*gossip.Config)) *tnode {
	c.t.Helper()
	i := len(c.nodes)
	addr := simnet.Addr(i)
	tr, err := c.nw.Transport(addr)
	if err != nil {
		c.t.Fatalf("transport %s: %v", addr, err)
	}
	name := fmt.Sprintf("n%03d", i)
	cfg := testConfig(name, tr)
	if tweak != nil {
		tweak(&cfg)
	}
	st := gossiptest.NewMemStore(name, 1)
	nd, err := gossip.New(cfg, st)
	if err != nil {
		c.t.Fatalf("New %s: %v", name, err)
	}
	tn := &tnode{name: name, addr: addr, store: st, node: nd}
	c.nodes = append(c.nodes, tn)
	return tn
}

// start adds n nodes and joins each to the first of them.
func (c *cluster) start(n int, tweak func(*gossip.Config)) []*tnode {
	c.t.Helper()
	first := len(c.nodes)
	for range n {
		c.add(tweak)
	}
	group := c.nodes[first:]
	for _, tn := range group[1:] {
		c.join(tn, group[0])
	}
	return group
}

func (c *cluster) join(tn, to *tnode) {
	c.t.Helper()
	if _, err := tn.node.Join(context.Background(), []string{to.addr}); err != nil {
		c.t.Fatalf("%s join %s: %v", tn.name, to.name, err)
	}
}

// shareMembership gives every node of group the whole group's membership and
// waits for it. With periodic push/pull off, nothing repairs a join that
// memberlist's gossip happened not to bring to some member (its broadcasts
// have a retransmit limit). The first node knows everyone once the joins
// returned: one push/pull with it gives every node the whole membership.
func (c *cluster) shareMembership(group []*tnode) {
	c.t.Helper()
	for _, tn := range group[1:] {
		if _, err := tn.node.PushPull(context.Background(), []string{group[0].addr}); err != nil {
			c.t.Fatalf("%s push/pull: %v", tn.name, err)
		}
	}
	waitFor(c.t, 30*time.Second, "membership", func() bool { return members(group, len(group)) })
}

// total sums one figure of the nodes' Stats over group.
func total(group []*tnode, f func(gossip.Stats) uint64) uint64 {
	var n uint64
	for _, tn := range group {
		n += f(tn.node.Stats())
	}
	return n
}

// put changes key at node tn and publishes the delta.
func (tn *tnode) put(key, value string) {
	tn.node.Publish(tn.store.Put(key, []byte(value)))
}

// randomChanges makes k random puts and deletes at random nodes of group.
func randomChanges(r *rand.Rand, group []*tnode, k int) {
	for range k {
		tn := group[r.IntN(len(group))]
		key := fmt.Sprintf("svc-%d", r.IntN(8))
		if r.IntN(4) == 0 {
			if d, ok := tn.store.Delete(key); ok {
				tn.node.Publish(d)
				continue
			}
		}
		tn.put(key, fmt.Sprintf("v%d", r.Int()))
	}
}

// converged reports whether every node of group has the same digest and hash
// and knows every origin of the group.
func converged(group []*tnode) bool {
	d0, h0 := group[0].store.Digest(), group[0].store.Hash()
	if len(d0) < len(group) {
		return false
	}
	for _, tn := range group[1:] {
		if tn.store.Hash() != h0 || !maps.Equal(tn.store.Digest(), d0) {
			return false
		}
	}
	return true
}

// members reports whether every node of group sees exactly want live members.
func members(group []*tnode, want int) bool {
	for _, tn := range group {
		if tn.node.NumMembers() != want {
			return false
		}
	}
	return true
}

// waitFor polls cond every 50 ms (virtual time under synctest) until it holds or
// d passes; it returns how long it took.
func waitFor(t testing.TB, d time.Duration, what string, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > d {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
	return time.Since(start)
}

// close leaves and closes every node, then the network, and lets in-flight
// memberlist goroutines end (synctest.Test fails on any goroutine left: that
// is the leak check).
func (c *cluster) close() {
	c.t.Helper()
	c.closed = true
	for _, tn := range c.nodes {
		if err := tn.node.Close(); err != nil {
			c.t.Errorf("close %s: %v", tn.name, err)
		}
		if err := tn.node.Close(); err != nil {
			c.t.Errorf("second close %s: %v", tn.name, err)
		}
	}
	c.nw.Close()
	time.Sleep(30 * time.Second) // memberlist's probes outlive Shutdown by up to its TCP timeout
}

func hashOf(s *gossiptest.MemStore) string { return fmt.Sprintf("%016x", s.Hash()) }

var _ = crdt.Position{}
