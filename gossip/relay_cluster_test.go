package gossip_test

import (
	"context"
	"fmt"
	"testing"
	"testing/synctest"
	"time"

	"github.com/grapevine-sd/grapevine/gossip"
	"github.com/grapevine-sd/grapevine/sim/simnet"
)

// sentOf sums the messages of kind sent by every node of group.
func sentOf(group []*tnode, kind string) uint64 {
	return total(group, func(s gossip.Stats) uint64 { return s.Sent[kind].Messages })
}

// startDisseminationOnly starts n nodes without anti-entropy rounds or
// periodic push/pull and waits until each knows all n.
func startDisseminationOnly(t *testing.T, n int) (*simnet.Network, *cluster, []*tnode) {
	t.Helper()
	nw := newNet(t, simnet.DefaultConfig())
	c := newCluster(t, nw)
	group := c.start(n, func(cfg *gossip.Config) {
		cfg.SyncInterval = 0 // dissemination only, no anti-entropy rounds
		cfg.PushPullInterval = time.Hour
	})
	c.shareMembership(group)
	return nw, c, group
}

// A local change travels on the two relay trees only: 2·(N−1) messages in a
// cluster whose members agree on the membership, no random push, every member
// reached within a few link latencies; and when a member has died unnoticed,
// the others still get every change at once.
func TestRelayTreesCarryLocalChanges(t *testing.T) {
	const n = 30
	synctest.Test(t, func(t *testing.T) {
		nw, c, group := startDisseminationOnly(t, n)
		// Announcements made while the membership was still spreading may
		// miss a member (a relay did not know it yet; anti-entropy, off here,
		// repairs that): announce again now that every member knows all.
		time.Sleep(2 * time.Second)
		for _, tn := range group {
			tn.node.Announce()
		}
		waitFor(t, 5*time.Second, "announcements", func() bool { return converged(group) })
		time.Sleep(5 * time.Second) // let the join traffic end

		relay0, push0 := sentOf(group, "relay"), sentOf(group, "push")
		for i := range 5 {
			group[i].put("svc", fmt.Sprintf("v%d", i))
			took := waitFor(t, 2*time.Second, "the change everywhere", func() bool { return converged(group) })
			if took > 200*time.Millisecond {
				t.Errorf("change %d reached every member after %v (virtual), want a few link latencies", i, took)
			}
		}
		if got, want := sentOf(group, "relay")-relay0, uint64(5*2*(n-1)); got != want {
			t.Errorf("relay messages for 5 changes: %d, want %d (2 trees of N-1)", got, want)
		}
		if got := sentOf(group, "push") - push0; got != 0 {
			t.Errorf("random pushes: %d, want 0", got)
		}

		// One member dies; until SWIM notices, it is a relay on some trees.
		// Each tree misses at most the dead relay's arc, and the other tree
		// covers it: no live member waits for anti-entropy (there is none).
		nw.Crash(group[n-1].addr)
		live := group[:n-1]
		for i := range 10 {
			live[i].put("svc2", fmt.Sprintf("w%d", i))
			waitFor(t, 2*time.Second, "the change at every live member", func() bool { return converged(live) })
		}
		c.close()
	})
}

// PushPull exchanges membership like Join but sends no announcement: no relay
// message leaves for it, while a Join sends the origin on its two trees.
func TestPushPullDoesNotAnnounce(t *testing.T) {
	const n = 8
	synctest.Test(t, func(t *testing.T) {
		_, c, group := startDisseminationOnly(t, n)
		time.Sleep(5 * time.Second) // let the join traffic end
		relay0 := sentOf(group, "relay")
		if got, err := group[n-1].node.PushPull(context.Background(), []string{group[1].addr}); err != nil || got != 1 {
			t.Fatalf("PushPull: %d, %v; want 1 answer", got, err)
		}
		time.Sleep(time.Second)
		if got := sentOf(group, "relay") - relay0; got != 0 {
			t.Errorf("relay messages after PushPull: %d, want 0", got)
		}
		if _, err := group[n-1].node.Join(context.Background(), []string{group[1].addr}); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Second)
		if got := sentOf(group, "relay") - relay0; got != 2*(n-1) {
			t.Errorf("relay messages after Join: %d, want %d (the announcement on 2 trees)", got, 2*(n-1))
		}
		c.close()
	})
}
