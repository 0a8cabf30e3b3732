package gossip_test

import (
	"fmt"
	"testing"
	"testing/synctest"
	"time"

	"github.com/grapevine-sd/grapevine/gossip"
	"github.com/grapevine-sd/grapevine/sim/simnet"
)

// sumsOnly makes anti-entropy rounds the only repair: no periodic push/pull
// after the join, and a full digest only every 1000 rounds.
func sumsOnly(c *gossip.Config) {
	c.PushPullInterval = time.Hour
	c.FullSyncEvery = 1000
}

// received sums a counter over group.
func received(group []*tnode, kind string) (msgs uint64) {
	for _, tn := range group {
		msgs += tn.node.Stats().Received[kind].Messages
	}
	return msgs
}

// In a quiet, converged cluster the rounds send sums, the peers find them
// equal, and no digest goes out but the periodic full one.
func TestQuietRoundsSendSums(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := newCluster(t, newNet(t, simnet.DefaultConfig()))
		group := c.start(5, func(c *gossip.Config) { c.PushPullInterval = time.Hour })
		waitFor(t, 30*time.Second, "membership", func() bool { return members(group, 5) })
		waitFor(t, 30*time.Second, "announcements", func() bool { return converged(group) })
		time.Sleep(5 * time.Second)
		sums0, digests0 := received(group, "sum"), received(group, "digest")
		var equal0 uint64
		for _, tn := range group {
			equal0 += tn.node.Stats().SumsEqual
		}
		time.Sleep(50 * time.Second) // 50 rounds per node (SyncInterval 1 s)
		sums, digests := received(group, "sum")-sums0, received(group, "digest")-digests0
		var equal uint64
		for _, tn := range group {
			equal += tn.node.Stats().SumsEqual
		}
		equal -= equal0
		// 250 rounds: 4 in 5 send a sum (~200), 1 in 5 a digest that is
		// answered with one (~100).
		if sums < 150 || equal != sums || digests > 150 {
			t.Errorf("in 250 quiet rounds: %d sums (%d equal), %d digests; want ~200 sums, all equal, ~100 digests", sums, equal, digests)
		}
		c.close()
	})
}

// A change no eager path carried (put in the store, never published) is
// found by a sum that differs, and the digest exchange it starts repairs it.
func TestSumMismatchRepairs(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := newCluster(t, newNet(t, simnet.DefaultConfig()))
		group := c.start(5, sumsOnly)
		waitFor(t, 30*time.Second, "membership", func() bool { return members(group, 5) })
		waitFor(t, 30*time.Second, "announcements", func() bool { return converged(group) })
		digests0 := received(group, "digest")
		for i, tn := range group[:3] {
			tn.store.Put(fmt.Sprintf("quiet-%d", i), []byte("v")) // not published
		}
		took := waitFor(t, 30*time.Second, "convergence by sums", func() bool { return converged(group) })
		if received(group, "digest") == digests0 {
			t.Error("converged without a digest exchange")
		}
		t.Logf("converged %v after the silent changes (virtual)", took)
		c.close()
	})
}

// A cluster of agents with and without sums (a rolling upgrade) converges,
// and no agent without sums is ever sent one (it would count it malformed).
func TestMixedClusterWithoutSums(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := newCluster(t, newNet(t, simnet.DefaultConfig()))
		group := c.start(3, sumsOnly)
		old := c.start(3, func(c *gossip.Config) { sumsOnly(c); gossip.WithoutSums(c) })
		c.join(old[0], group[0])
		all := append(group, old...)
		waitFor(t, 30*time.Second, "membership", func() bool { return members(all, 6) })
		waitFor(t, 30*time.Second, "announcements", func() bool { return converged(all) })
		for i, tn := range all {
			tn.store.Put(fmt.Sprintf("quiet-%d", i), []byte("v")) // not published
		}
		waitFor(t, 60*time.Second, "convergence", func() bool { return converged(all) })
		time.Sleep(20 * time.Second)
		for _, tn := range old {
			st := tn.node.Stats()
			if n := st.Received["sum"].Messages; n != 0 || st.Rejected["malformed"] != 0 {
				t.Errorf("%s (without sums): %d sums received, %d malformed", tn.name, n, st.Rejected["malformed"])
			}
		}
		if received(group, "sum") == 0 {
			t.Error("the agents with sums sent each other none")
		}
		c.close()
	})
}
