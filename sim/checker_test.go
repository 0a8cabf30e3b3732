package sim

import (
	"fmt"
	"testing"
	"time"
)

// checkerWorld drives a checker directly with synthetic samples: nodes
// n0..n(size-1), each owning web-0; what each observer answers is set per
// sample.
type checkerWorld struct {
	t0   time.Time
	ck   *checker
	size int
}

func newCheckerWorld(b Bounds, size int) *checkerWorld {
	t0 := time.Unix(1000, 0)
	w := &checkerWorld{t0: t0, ck: newChecker(t0, func(int) Bounds { return b }), size: size}
	for i := range size {
		w.ck.registered(nodeName(i), Registration{ID: "web-0", Service: "web", Health: "passing"}, t0)
	}
	return w
}

// sample has every live observer answer the instances of owners (stale if
// stale[owner]).
func (w *checkerWorld) sample(at time.Duration, live []int, owners []int, stale map[int]bool, answer func(obs int) bool) {
	s := sample{at: w.t0.Add(at), seq: w.ck.opSeqNow(), answers: map[string]map[string][]Seen{}, hashes: map[string]uint64{}, live: map[string]bool{}, n: w.size}
	for _, o := range live {
		var ans []Seen
		if answer == nil || answer(o) {
			for _, h := range owners {
				ans = append(ans, Seen{ID: "web-0", Node: nodeName(h), Health: "passing", Stale: stale[h]})
			}
		}
		s.answers[nodeName(o)] = map[string][]Seen{"web": ans}
		s.hashes[nodeName(o)] = 1
		s.live[nodeName(o)] = true
	}
	w.ck.observe(s)
}

// crash records a crash of nodes among live (the observers) at t.
func (w *checkerWorld) crash(at time.Duration, nodes []int, live []int) {
	obs := map[string]loss{}
	for _, o := range live {
		obs[nodeName(o)] = loss{len(nodes), len(live) + len(nodes)}
	}
	var names []string
	for _, n := range nodes {
		names = append(names, nodeName(n))
	}
	w.ck.lost(w.t0.Add(at), true, names, obs, w.size)
}

func span(lo, hi int) []int {
	var out []int
	for i := lo; i < hi; i++ {
		out = append(out, i)
	}
	return out
}

var checkerBounds = Bounds{
	Detect: 5 * time.Second, LeaseGrace: 5 * time.Second, MassFraction: 0.3, MassMin: 2,
	MassWindow: 30 * time.Second, StaleMaxAge: time.Minute, Slack: time.Second,
}

// Checker bug 6: crashes in waves within the mass-failure window are one
// mass disappearance (the catalog preserves them), not G4 violations.
func TestCheckerMassDeathInWaves(t *testing.T) {
	w := newCheckerWorld(checkerBounds, 10)
	w.sample(0, span(0, 10), span(0, 10), nil, nil)
	// Two waves of 2 (20% each, under the 30% threshold), 10 s apart:
	// 40% within the window.
	w.crash(time.Second, []int{8, 9}, span(0, 8))
	w.crash(11*time.Second, []int{6, 7}, span(0, 6))
	// Preserved: the dead ones stay, stale, beyond the withdrawal bound.
	stale := map[int]bool{6: true, 7: true, 8: true, 9: true}
	for at := 12 * time.Second; at < 40*time.Second; at += time.Second {
		w.sample(at, span(0, 6), span(0, 10), stale, nil)
	}
	if n := w.ck.counts[G4]; n != 0 {
		t.Errorf("G4: %d violations for crashes in waves within the window: %v", n, w.ck.violations[G4])
	}

	// Waves further apart than the window are separate crashes: the same
	// answers break G4.
	w = newCheckerWorld(checkerBounds, 10)
	w.sample(0, span(0, 10), span(0, 10), nil, nil)
	w.crash(time.Second, []int{8, 9}, span(0, 8))
	w.crash(41*time.Second, []int{6, 7}, span(0, 6))
	for at := 42 * time.Second; at < 70*time.Second; at += time.Second {
		w.sample(at, span(0, 6), span(0, 10), stale, nil)
	}
	if w.ck.counts[G4] == 0 {
		t.Errorf("G4: no violation for separate crashes whose instances outlive the bound")
	}
}

// Checker bug 5: stale over empty holds for leases.stale_max_age, not
// forever.
func TestCheckerStaleOverEmptyAgeLimit(t *testing.T) {
	for _, tt := range []struct {
		emptyAt time.Duration
		want    int
	}{
		{30 * time.Second, 5}, // within stale_max_age (1m): a violation at each observer
		{90 * time.Second, 0}, // beyond it: the product rightly answers empty
	} {
		t.Run(fmt.Sprint(tt.emptyAt), func(t *testing.T) {
			w := newCheckerWorld(checkerBounds, 10)
			w.sample(0, span(0, 10), span(5, 10), nil, nil) // only n5..n9 serve web
			w.crash(time.Second, span(5, 10), span(0, 5))
			w.sample(tt.emptyAt-time.Second, span(0, 5), span(5, 10), map[int]bool{5: true, 6: true, 7: true, 8: true, 9: true}, nil)
			w.sample(tt.emptyAt, span(0, 5), nil, nil, nil)
			if got := w.ck.counts[G5]; got != tt.want {
				t.Errorf("G5 violations %d, want %d: %v", got, tt.want, w.ck.violations[G5])
			}
		})
	}
}

// Checker bug 4: an observer that restarts (with an empty replica) is no
// longer held to the answers of its previous incarnation.
func TestCheckerStaleOverEmptyObserverRestart(t *testing.T) {
	for _, restart := range []bool{false, true} {
		t.Run(fmt.Sprintf("restart=%v", restart), func(t *testing.T) {
			w := newCheckerWorld(checkerBounds, 10)
			w.sample(0, span(0, 10), span(5, 10), nil, nil)
			w.crash(time.Second, span(5, 10), span(0, 5))
			if restart {
				w.ck.observerRestarted("n0", w.t0.Add(2*time.Second))
			}
			// n0 answers empty, the others keep serving stale.
			stale := map[int]bool{5: true, 6: true, 7: true, 8: true, 9: true}
			w.sample(5*time.Second, span(0, 5), span(5, 10), stale, func(o int) bool { return o != 0 })
			want := 1
			if restart {
				want = 0
			}
			if got := w.ck.counts[G5]; got != want {
				t.Errorf("G5 violations %d, want %d: %v", got, want, w.ck.violations[G5])
			}
		})
	}
}

// A crash while a partition keeps self-preservation engaged at an observer
// (it cannot reach a mass of the cluster) is held like the partition's
// losses, whenever the partition began.
func TestCheckerCrashDuringPreservation(t *testing.T) {
	w := newCheckerWorld(checkerBounds, 10)
	w.sample(0, span(0, 10), span(0, 10), nil, nil)
	// n7, n8, n9 are cut off from the other 7: mass for them.
	obs := map[string]loss{}
	for _, o := range span(0, 10) {
		if o >= 7 {
			obs[nodeName(o)] = loss{7, 10}
		} else {
			obs[nodeName(o)] = loss{3, 10}
		}
	}
	w.ck.lost(w.t0.Add(time.Second), false, nil, obs, 10)
	// 100 s later n9 crashes; n7 and n8 keep its instance, stale.
	w.ck.lost(w.t0.Add(100*time.Second), true, []string{"n9"}, map[string]loss{"n7": {1, 3}, "n8": {1, 3}}, 10)
	for at := 101 * time.Second; at < 160*time.Second; at += time.Second {
		w.sample(at, []int{7, 8}, []int{7, 8, 9}, map[int]bool{9: true}, nil)
	}
	if n := w.ck.counts[G4]; n != 0 {
		t.Errorf("G4: %d violations for a crash during self-preservation: %v", n, w.ck.violations[G4])
	}
}
