package simnet

import (
	"testing"
	"testing/synctest"
	"time"
)

func TestFlapSchedule(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		nw, _ := testNet(t, nil, a1, a2, a3)
		t0 := time.Now()
		stop := nw.Flap(a1, a2, 2*time.Second, time.Second)
		// down [0,1), up [1,3), down [3,4), up [4,6), ...
		for _, tc := range []struct {
			at   time.Duration
			want bool
		}{
			{500 * time.Millisecond, false}, {1500 * time.Millisecond, true}, {2500 * time.Millisecond, true},
			{3500 * time.Millisecond, false}, {4500 * time.Millisecond, true}, {6500 * time.Millisecond, false},
		} {
			time.Sleep(tc.at - time.Since(t0))
			if got := nw.Reachable(a1, a2); got != tc.want {
				t.Errorf("t=%v: a1→a2 reachable %v, want %v", tc.at, got, tc.want)
			}
			if got := nw.Reachable(a2, a1); got != tc.want {
				t.Errorf("t=%v: a2→a1 reachable %v, want %v", tc.at, got, tc.want)
			}
			if !nw.Reachable(a1, a3) {
				t.Errorf("t=%v: a1→a3 cut by a flap of a1-a2", tc.at)
			}
		}
		if got := nw.Flapping(); got != 1 {
			t.Errorf("Flapping() = %d, want 1", got)
		}
		stop() // while down: the link comes back at once and stays
		if !nw.Reachable(a1, a2) {
			t.Error("stop left the link down")
		}
		time.Sleep(10 * time.Second)
		if !nw.Reachable(a1, a2) || nw.Flapping() != 0 {
			t.Errorf("after stop: reachable %v, flapping %d", nw.Reachable(a1, a2), nw.Flapping())
		}
		stop() // idempotent
	})
}

func TestFlapKeepsOtherCuts(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		nw, _ := testNet(t, nil, a1, a2)
		stop := nw.Flap(a1, a2, time.Second, time.Second)
		nw.Cut(a1, a2) // the caller's own one-way cut
		time.Sleep(1500 * time.Millisecond)
		if nw.Reachable(a1, a2) {
			t.Error("flap going up undid the caller's Cut")
		}
		if !nw.Reachable(a2, a1) {
			t.Error("a2→a1 down while the flap is up")
		}
		stop()
		if nw.Reachable(a1, a2) {
			t.Error("stop undid the caller's Cut")
		}
		nw.Uncut(a1, a2)
		// Two flaps of one link: the link is down while either is down.
		s1 := nw.Flap(a1, a2, time.Second, time.Second)
		s2 := nw.Flap(a2, a1, time.Second, 3*time.Second)
		time.Sleep(1500 * time.Millisecond)
		if nw.Reachable(a1, a2) {
			t.Error("up while the second flap is down")
		}
		s2()
		if !nw.Reachable(a1, a2) {
			t.Error("down after the second flap stopped while the first is up")
		}
		s1()
	})
}

func TestFlapStoppedByHealAndClose(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		nw, trs := testNet(t, nil, a1, a2, a3)
		// A stream across a flapping link breaks when the link goes down.
		time.Sleep(2 * time.Second)
		c, s := dialPair(t, trs[0], trs[1])
		defer c.Close()
		defer s.Close()
		stop := nw.Flap(a1, a2, time.Second, time.Second)
		if _, err := c.Write([]byte("x")); err == nil {
			t.Error("stream across a link that went down still writes")
		}
		nw.Flap(a1, a3, time.Second, time.Second)
		nw.Heal()
		if nw.Flapping() != 0 || !nw.Reachable(a1, a2) || !nw.Reachable(a3, a1) {
			t.Errorf("after Heal: flapping %d, a1→a2 %v, a3→a1 %v", nw.Flapping(), nw.Reachable(a1, a2), nw.Reachable(a3, a1))
		}
		time.Sleep(5 * time.Second)
		if !nw.Reachable(a1, a2) {
			t.Error("a healed flap cut the link again")
		}
		stop() // after Heal: a no-op
		nw.Flap(a2, a3, time.Second, time.Second)
		nw.Close()
		if nw.Flapping() != 0 {
			t.Errorf("after Close: flapping %d", nw.Flapping())
		}
		if stop := nw.Flap(a1, a2, time.Second, time.Second); nw.Flapping() != 0 || !nw.Reachable(a1, a2) {
			t.Error("Flap on a closed network flaps")
		} else {
			stop()
		}
		// synctest.Test fails if a flap's timer left a goroutine running.
	})
}
