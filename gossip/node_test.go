package gossip_test

import (
	"context"
	"fmt"
	"github.com/grapevine-sd/grapevine/gossip"
	"github.com/grapevine-sd/grapevine/gossip/gossiptest"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/grapevine-sd/grapevine/sim/simnet"
)

func TestConverge(t *testing.T) {
	for _, n := range []int{10, 50} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				c := newCluster(t, newNet(t, simnet.DefaultConfig()))
				group := c.start(n, nil)
				waitFor(t, 30*time.Second, "membership", func() bool { return members(group, n) })
				waitFor(t, 30*time.Second, "announcements", func() bool { return converged(group) })
				r := rand.New(rand.NewPCG(1, uint64(n)))
				randomChanges(r, group, 5*n)
				took := waitFor(t, 30*time.Second, "convergence", func() bool { return converged(group) })
				t.Logf("%d nodes converged %v after %d changes (virtual); hash %s", n, took, 5*n, hashOf(group[0].store))
				c.close()
			})
		})
	}
}

// A node whose incoming packets are nearly all lost (eager push and piggyback
// miss it) catches up through anti-entropy over the reliable channel.
func TestLossyNodeCatchesUp(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		nw := newNet(t, simnet.DefaultConfig())
		c := newCluster(t, nw)
		group := c.start(6, nil)
		waitFor(t, 30*time.Second, "membership", func() bool { return members(group, 6) })
		waitFor(t, 30*time.Second, "announcements", func() bool { return converged(group) })
		lossy := group[5]
		for _, tn := range group[:5] {
			lc := simnet.DefaultConfig().DefaultLink
			lc.Loss = 0.97 // packets only; streams still work
			if err := nw.SetLink(tn.addr, lossy.addr, lc); err != nil {
				t.Fatal(err)
			}
		}
		before := lossy.node.Stats()
		r := rand.New(rand.NewPCG(2, 2))
		randomChanges(r, group[:5], 40)
		took := waitFor(t, 30*time.Second, "lossy node to catch up", func() bool { return converged(group) })
		after := lossy.node.Stats()
		syncs := after.Received["sync"].Messages - before.Received["sync"].Messages
		if syncs == 0 {
			t.Errorf("lossy node received no sync messages: caught up without anti-entropy?")
		}
		t.Logf("caught up after %v (virtual) with %d sync messages", took, syncs)
		c.close()
	})
}

// Two groups formed separately, with their own data, merge after one join.
func TestGroupsMerge(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := newCluster(t, newNet(t, simnet.DefaultConfig()))
		a := c.start(5, nil)
		b := c.start(5, nil)
		r := rand.New(rand.NewPCG(3, 3))
		randomChanges(r, a, 30)
		randomChanges(r, b, 30)
		waitFor(t, 30*time.Second, "groups converge", func() bool { return converged(a) && converged(b) })
		if converged(c.nodes) {
			t.Fatal("converged before joining")
		}
		c.join(b[2], a[3])
		took := waitFor(t, 30*time.Second, "merge", func() bool { return members(c.nodes, 10) && converged(c.nodes) })
		t.Logf("merged %v after join (virtual)", took)
		c.close()
	})
}

// Two halves partitioned longer than SWIM's suspicion time declare each other
// dead; after the heal the rejoin loop merges them without an operator.
func TestRejoinAfterPartition(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		nw := newNet(t, simnet.DefaultConfig())
		c := newCluster(t, nw)
		all := c.start(10, nil)
		waitFor(t, 30*time.Second, "membership", func() bool { return members(all, 10) && converged(all) })
		left, right := all[:5], all[5:]
		addrs := func(g []*tnode) []string {
			var out []string
			for _, tn := range g {
				out = append(out, tn.addr)
			}
			return out
		}
		nw.Partition(addrs(left), addrs(right))
		waitFor(t, 2*time.Minute, "halves to see each other dead", func() bool { return members(left, 5) && members(right, 5) })
		time.Sleep(30 * time.Second) // a partition well past suspicion (HAZARDS: > ~1 min never re-merges alone)
		r := rand.New(rand.NewPCG(4, 4))
		randomChanges(r, left, 20)
		randomChanges(r, right, 20)
		waitFor(t, 30*time.Second, "halves converge", func() bool { return converged(left) && converged(right) })
		nw.Heal()
		took := waitFor(t, time.Minute, "heal", func() bool { return members(all, 10) && converged(all) })
		var rejoins uint64
		for _, tn := range all {
			rejoins += tn.node.Stats().Rejoins
		}
		if rejoins == 0 {
			t.Errorf("merged without the rejoin loop")
		}
		t.Logf("merged %v after heal (virtual), %d rejoin contacts", took, rejoins)
		c.close()
	})
}

// A node with another key, or none, can neither join a keyed cluster nor change
// its catalog; a plaintext packet injected at a keyed node is dropped.
func TestWrongKey(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		nw := newNet(t, simnet.DefaultConfig())
		c := newCluster(t, nw)
		key := []byte("0123456789abcdef")
		rotated := []byte("fedcba9876543210")
		group := c.start(3, func(cfg *gossip.Config) { cfg.SecretKeys = [][]byte{key, rotated} })
		waitFor(t, 30*time.Second, "membership", func() bool { return members(group, 3) && converged(group) })
		// A node encrypting with the other installed key (rotation in progress) is accepted.
		ok := c.add(func(cfg *gossip.Config) { cfg.SecretKeys = [][]byte{rotated, key} })
		c.join(ok, group[0])

		for _, tc := range []struct {
			name string
			keys [][]byte
		}{
			{"wrong key", [][]byte{[]byte("0000000000000000")}},
			{"no key", nil},
		} {
			bad := c.add(func(cfg *gossip.Config) { cfg.SecretKeys = tc.keys; cfg.Seeds = []string{group[0].addr} })
			if n, err := bad.node.Join(context.Background(), []string{group[0].addr}); err == nil || n != 0 {
				t.Errorf("%s: join = %d, %v; want 0 and an error", tc.name, n, err)
			}
			bad.put("evil", tc.name)
		}
		keyed := append(group, ok)
		// Raw plaintext user message (memberlist userMsg = 8) at a keyed node.
		tr, err := nw.Transport(simnet.Addr(99))
		if err != nil {
			t.Fatal(err)
		}
		inj := gossiptest.NewMemStore("intruder", 1)
		msg := gossip.EncodePushForTest("intruder", inj.Put("evil", []byte("x")))
		if _, err := tr.WriteTo(append([]byte{8}, msg...), group[1].addr); err != nil {
			t.Fatal(err)
		}
		time.Sleep(10 * time.Second) // give the injections every chance (rejoin, sync, gossip)
		for _, tn := range keyed {
			if got := tn.node.NumMembers(); got != 4 {
				t.Errorf("%s sees %d members, want 4", tn.name, got)
			}
			for origin := range tn.store.Digest() {
				if origin == "intruder" || origin == "n004" || origin == "n005" {
					t.Errorf("%s holds origin %s", tn.name, origin)
				}
			}
		}
		if !converged(keyed) {
			t.Errorf("keyed nodes not converged")
		}
		tr.Shutdown()
		c.close()
	})
}

// Membership events arrive in order: joins, a graceful leave as MemberLeave, a
// silent stop as MemberFail.
func TestEvents(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := newCluster(t, newNet(t, simnet.DefaultConfig()))
		var mu sync.Mutex
		got := map[string][]gossip.EventKind{}
		watcher := c.add(func(cfg *gossip.Config) {
			cfg.Events = func(e gossip.Event) {
				mu.Lock()
				got[e.Member.Name] = append(got[e.Member.Name], e.Kind)
				mu.Unlock()
			}
		})
		leaver, crasher := c.add(nil), c.add(nil)
		c.join(leaver, watcher)
		c.join(crasher, watcher)
		waitFor(t, 30*time.Second, "membership", func() bool { return members(c.nodes, 3) })
		if err := leaver.node.Leave(context.Background()); err != nil {
			t.Fatal(err)
		}
		waitFor(t, time.Minute, "leave", func() bool { return watcher.node.NumMembers() == 2 })
		crasher.node.Close()
		waitFor(t, time.Minute, "fail", func() bool { return watcher.node.NumMembers() == 1 })
		time.Sleep(time.Second)
		mu.Lock()
		defer mu.Unlock()
		want := map[string][]gossip.EventKind{
			watcher.name: {gossip.MemberJoin},
			leaver.name:  {gossip.MemberJoin, gossip.MemberLeave},
			crasher.name: {gossip.MemberJoin, gossip.MemberFail},
		}
		for name, w := range want {
			if !slices.Equal(got[name], w) {
				t.Errorf("events of %s: got %v, want %v", name, got[name], w)
			}
		}
		c.close()
	})
}

// Members may be read while memberlist changes membership: it returns copies,
// never memberlist's own node structs, which memberlist rewrites when a member
// restarts under the same name (run under -race).
func TestMembersWhileMembershipChanges(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		nw := newNet(t, simnet.DefaultConfig())
		c := newCluster(t, nw)
		group := c.start(4, nil)
		stop := make(chan struct{})
		done := make(chan int)
		go func() {
			reads := 0
			for {
				select {
				case <-stop:
					done <- reads
					return
				case <-time.After(5 * time.Millisecond):
				}
				for _, m := range group[0].node.Members() {
					reads += len(m.Meta) + int(m.Port) + len(m.Addr)
				}
			}
		}()
		waitFor(t, 30*time.Second, "membership", func() bool { return members(group, 4) })
		// Restart n003 in place with new metadata: memberlist updates the
		// member's fields from the new incarnation's alive message.
		old := group[3]
		nw.Crash(old.addr)
		old.node.Close()
		tr, err := nw.Transport(old.addr)
		if err != nil {
			t.Fatal(err)
		}
		cfg := testConfig(old.name, tr)
		cfg.Meta = []byte("restarted")
		st := gossiptest.NewMemStore(old.name, 2)
		nd, err := gossip.New(cfg, st)
		if err != nil {
			t.Fatal(err)
		}
		c.nodes[3] = &tnode{name: old.name, addr: old.addr, store: st, node: nd}
		if _, err := nd.Join(context.Background(), []string{group[0].addr}); err != nil {
			t.Fatal(err)
		}
		waitFor(t, 60*time.Second, "restarted member's new metadata", func() bool {
			for _, m := range group[0].node.Members() {
				if m.Name == old.name && string(m.Meta) == "restarted" {
					return true
				}
			}
			return false
		})
		close(stop)
		if reads := <-done; reads == 0 {
			t.Error("Members was never read with members present")
		}
		c.close()
	})
}

// newNet is simnet.New for tests: an invalid cfg fails the test.
func newNet(tb testing.TB, cfg simnet.Config) *simnet.Network {
	tb.Helper()
	nw, err := simnet.New(cfg)
	if err != nil {
		tb.Fatalf("simnet.New: %v", err)
	}
	return nw
}
