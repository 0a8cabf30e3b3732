package gossip_test

import (
	"testing"
	"testing/synctest"
	"time"

	"github.com/grapevine-sd/grapevine/gossip"
	"github.com/grapevine-sd/grapevine/sim/simnet"
)

// Probes feed each member's RTT and the RTT histogram: with 20 ms links
// (virtual time) every round trip is 40 ms, in the (25 ms, 50 ms] bucket.
func TestProbeRTT(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cfg := simnet.DefaultConfig()
		cfg.DefaultLink.Latency, cfg.DefaultLink.Jitter = 20*time.Millisecond, 0
		nw := newNet(t, cfg)
		c := newCluster(t, nw)
		all := c.start(3, nil)
		waitFor(t, 30*time.Second, "membership", func() bool { return members(all, 3) })
		time.Sleep(10 * time.Second) // several probe rounds (1 s each)
		st := all[0].node.Stats()
		if st.ProbeRTT.Count == 0 {
			t.Fatal("no probe round trips recorded")
		}
		bucket := -1
		for i, b := range gossip.RTTBuckets {
			if b == 50*time.Millisecond {
				bucket = i
			}
		}
		if got := st.ProbeRTT.Counts[bucket]; got != st.ProbeRTT.Count {
			t.Errorf("%d of %d round trips in the (25ms, 50ms] bucket: %v", got, st.ProbeRTT.Count, st.ProbeRTT.Counts)
		}
		if mean := st.ProbeRTT.Sum / time.Duration(st.ProbeRTT.Count); mean < 40*time.Millisecond || mean > 50*time.Millisecond {
			t.Errorf("mean round trip %v, want 40-50ms", mean)
		}
		for _, m := range all[0].node.Members() {
			if m.Name != all[0].name && (m.RTT < 40*time.Millisecond || m.RTT > 50*time.Millisecond) {
				t.Errorf("member %s RTT %v, want 40-50ms", m.Name, m.RTT)
			}
		}
		if st.HealthScore != 0 {
			t.Errorf("health score %d on a healthy network", st.HealthScore)
		}
		c.close()
	})
}
