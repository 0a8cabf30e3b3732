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
// after the join.
func sumsOnly(c *gossip.Config) {
	c.PushPullInterval = time.Hour
}

// startSumsOnly starts n nodes (sumsOnly), each knowing all n, and waits
// until they hold the same data.
func startSumsOnly(t *testing.T, n int) (*cluster, []*tnode) {
	t.Helper()
	c := newCluster(t, newNet(t, simnet.DefaultConfig()))
	group := c.start(n, sumsOnly)
	c.shareMembership(group)
	waitFor(t, 60*time.Second, "announcements", func() bool { return converged(group) })
	return c, group
}

// received counts the messages of a kind the nodes of group received.
func received(group []*tnode, kind string) uint64 {
	return total(group, func(s gossip.Stats) uint64 { return s.Received[kind].Messages })
}

// sumsEqual counts the peers' sums the nodes of group found equal to theirs.
func sumsEqual(group []*tnode) uint64 {
	return total(group, func(s gossip.Stats) uint64 { return s.SumsEqual })
}

// In a quiet, converged cluster the rounds send sums, the peers find them
// equal, and no digest goes out.
func TestQuietRoundsSendSums(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c, group := startSumsOnly(t, 5)
		time.Sleep(5 * time.Second)
		sums0, digests0, equal0 := received(group, "sum"), received(group, "digest"), sumsEqual(group)
		time.Sleep(50 * time.Second) // 50 rounds per node (SyncInterval 1 s)
		sums, digests := received(group, "sum")-sums0, received(group, "digest")-digests0
		equal := sumsEqual(group) - equal0
		// 250 rounds, jittered by up to a quarter: at least 200 sums.
		if sums < 200 || equal != sums || digests != 0 {
			t.Errorf("in ~250 quiet rounds: %d sums (%d equal), %d digests; want ≥ 200 sums, all equal, no digest", sums, equal, digests)
		}
		c.close()
	})
}

// A change no eager path carried (put in the store, never published) is
// found by a sum that differs, and the digest exchange it starts repairs it.
func TestSumMismatchRepairs(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c, group := startSumsOnly(t, 5)
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
		c.shareMembership(all)
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

// In a cluster of more than 64 members sums carry buckets: a silent change
// at one node makes one bucket differ, and the exchange moves the digest
// rows of that bucket only, not the whole digest, and repairs the change.
func TestSumBucketsMoveOnlyDifferingRows(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const n = 80 // 16 buckets of ~5 origins
		c, group := startSumsOnly(t, n)
		time.Sleep(5 * time.Second)
		partBytesOf := func(s gossip.Stats) uint64 { return s.Sent["part-digest"].Bytes }
		parts0, partBytes0, digests0 := sentOf(group, "part-digest"), total(group, partBytesOf), sentOf(group, "digest")
		for i, tn := range group[:2] {
			tn.store.Put(fmt.Sprintf("quiet-%d", i), []byte("v")) // not published
		}
		took := waitFor(t, 60*time.Second, "convergence by bucketed sums", func() bool { return converged(group) })
		parts, partBytes := sentOf(group, "part-digest")-parts0, total(group, partBytesOf)-partBytes0
		digests := sentOf(group, "digest") - digests0
		whole, err := gossip.EncodeDigest("n000", true, group[0].store.Digest())
		if err != nil {
			t.Fatal(err)
		}
		full := len(whole)
		if parts == 0 || partBytes/parts > uint64(full)/4 {
			t.Errorf("%d part digests of %d B on average; want some, each under a quarter of a whole digest (%d B)", parts, partBytes/max(parts, 1), full)
		}
		if digests != 0 {
			t.Errorf("%d whole digests sent; want none (the sums' buckets should have narrowed every exchange)", digests)
		}
		t.Logf("converged %v after two silent changes: %d part digests, %d B on average (a whole digest: %d B)", took, parts, partBytes/max(parts, 1), full)
		c.close()
	})
}
