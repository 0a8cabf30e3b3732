package simnet

import "time"

// flapper toggles the link between a and b: down (cut both ways) for down,
// then up for up, repeatedly, until stopped. Its cut is kept apart from Cut and
// CutLink (Network.flapCuts), so a flap restoring the link never undoes a cut
// made by the caller, and vice versa. All fields are guarded by Network.mu.
type flapper struct {
	a, b     string
	up, down time.Duration
	cut      bool // the link is currently down because of this flapper
	stopped  bool
	timer    *time.Timer
}

// Flap makes the link between a and b flap: it goes down at once (both
// directions cut, streams across it broken), comes back up after down, goes
// down again after up, and so on, until the returned stop is called, Heal or
// Close. stop leaves the link up (as far as this flap is concerned: other cuts,
// partitions and flaps of the same link still apply); it is idempotent and
// safe to call after Heal or Close. The toggles run from time.AfterFunc, so a
// flap inside a testing/synctest bubble follows virtual time and leaves no
// goroutine behind once stopped. Non-positive up or down are taken as 1ms.
func (n *Network) Flap(a, b string, up, down time.Duration) (stop func()) {
	f := &flapper{a: key(a), b: key(b), up: max(up, time.Millisecond), down: max(down, time.Millisecond)}
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed {
		return func() {}
	}
	n.flaps[f] = struct{}{}
	n.toggleLocked(f)
	return func() {
		n.mu.Lock()
		defer n.mu.Unlock()
		n.stopFlapLocked(f)
	}
}

// toggleLocked flips f's link and schedules the next flip. Caller holds mu.
func (n *Network) toggleLocked(f *flapper) {
	next := f.down
	if f.cut {
		n.flapCutLocked(f, false)
		next = f.up
	} else {
		n.flapCutLocked(f, true)
		n.faultChangedLocked()
	}
	n.log.Debug().Str("a", f.a).Str("b", f.b).Bool("down", f.cut).Msg("flap")
	f.timer = time.AfterFunc(next, func() {
		n.mu.Lock()
		defer n.mu.Unlock()
		if !f.stopped {
			n.toggleLocked(f)
		}
	})
}

// flapCutLocked adds (cut) or removes f's cut of both directions. Caller
// holds mu.
func (n *Network) flapCutLocked(f *flapper, cut bool) {
	if f.cut == cut {
		return
	}
	f.cut = cut
	for _, l := range [2]link{{f.a, f.b}, {f.b, f.a}} {
		if cut {
			n.flapCuts[l]++
		} else if n.flapCuts[l]--; n.flapCuts[l] <= 0 {
			delete(n.flapCuts, l)
		}
	}
}

// stopFlapLocked stops f and restores its link. Caller holds mu.
func (n *Network) stopFlapLocked(f *flapper) {
	if f.stopped {
		return
	}
	f.stopped = true
	if f.timer != nil {
		f.timer.Stop()
	}
	n.flapCutLocked(f, false)
	delete(n.flaps, f)
}

// stopFlapsLocked stops every flap. Caller holds mu.
func (n *Network) stopFlapsLocked() {
	for f := range n.flaps {
		n.stopFlapLocked(f)
	}
}

// Flapping returns how many flaps are running.
func (n *Network) Flapping() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	return len(n.flaps)
}
