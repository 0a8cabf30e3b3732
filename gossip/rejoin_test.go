package gossip_test

import (
	"testing"
	"testing/synctest"
	"time"

	"github.com/grapevine-sd/grapevine/gossip"
	"github.com/grapevine-sd/grapevine/sim/simnet"
)

// failedDials sums the failed stream dials of group: with no other faults,
// the rejoin loop's attempts at unreachable addresses.
func failedDials(nw *simnet.Network, group []*tnode) uint64 {
	var n uint64
	for _, tn := range group {
		n += nw.Stats(tn.addr).StreamDialsFailed
	}
	return n
}

// A seed that never answers is retried every RejoinInterval at first, then
// less and less often, down to one attempt per RejoinMaxWait.
func TestRejoinBacksOff(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		nw := newNet(t, simnet.DefaultConfig())
		c := newCluster(t, nw)
		tn := c.add(func(cfg *gossip.Config) { cfg.Seeds = []string{simnet.Addr(99)} }) // nobody there
		time.Sleep(time.Minute)
		first := failedDials(nw, c.nodes)
		time.Sleep(59 * time.Minute)
		mid := failedDials(nw, c.nodes)
		time.Sleep(20 * time.Minute)
		last := failedDials(nw, c.nodes) - mid
		t.Logf("attempts: %d in the first minute, %d in the first hour, %d in the 20 minutes after", first, mid, last)
		// RejoinInterval 2 s (+ up to 25% jitter): at least 20 tries while the outage is young.
		if first < 20 {
			t.Errorf("%d attempts in the first minute, want >= 20 (every RejoinInterval)", first)
		}
		// Unpaced, an hour is ~1600 attempts; paced, the wait grows with the
		// outage's age (age/20) to RejoinMaxWait (2 min).
		if mid > 150 {
			t.Errorf("%d attempts in the first hour, want <= 150", mid)
		}
		if last < 9 || last > 14 {
			t.Errorf("%d attempts in 20 minutes at the cap, want 9..14 (every 1.5-2 min)", last)
		}
		if tn.node.Stats().Rejoins != 0 {
			t.Errorf("rejoined a seed that does not exist")
		}
		c.close()
	})
}

// The cluster shares the effort: ten live nodes remembering one dead member
// make about one attempt per round between them, not ten.
func TestRejoinSharedEffort(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		nw := newNet(t, simnet.DefaultConfig())
		c := newCluster(t, nw)
		all := c.start(11, nil)
		waitFor(t, 30*time.Second, "membership", func() bool { return members(all, 11) })
		dead, live := all[10], all[:10]
		nw.Crash(dead.addr)
		_ = dead.node.Close()
		waitFor(t, 2*time.Minute, "the dead member to be declared dead", func() bool { return members(live, 10) })
		before := failedDials(nw, live)
		time.Sleep(10 * time.Minute)
		got := failedDials(nw, live) - before
		// One node alone makes ~60 paced attempts in these 10 minutes; ten
		// nodes without sharing ~600.
		t.Logf("%d attempts at the dead member by 10 live nodes in 10 minutes", got)
		if got == 0 || got > 150 {
			t.Errorf("%d attempts, want 1..150", got)
		}
		c.close()
	})
}
