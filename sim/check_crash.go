package sim

import (
	"time"
)

// disappearance is a crash (G4) or a mass disappearance (G5) being watched.
type disappearance struct {
	at        time.Time
	seq       uint64
	owners    map[string]bool      // the crashed (or unreachable) nodes
	keys      []instKey            // their registered instances at the time
	losses    map[string]loss      // what each observer lost by this event
	joined    map[string]time.Time // observers (re)started since, and when (a new replica)
	mass      map[string]bool      // observers for which it is part of a mass disappearance
	nonEmpty  map[string][]string  // observer → services it answered non-empty before
	crash     bool                 // a crash (G4 applies to non-mass observers)
	ended     bool
	reported  map[string]bool // violations already reported, by kind|observer|key
	withdrawn time.Duration   // crash: when no observer served the instances fresh any more
}

// loss is how many of the nodes an observer could see it lost at once.
type loss struct{ lost, of int }

// lost records nodes becoming unreachable at once: crashed (crash) or cut off
// by a partition. observers maps each surviving observer to what it lost.
//
// Whether it is a mass disappearance for an observer is decided as the
// catalog decides it: over every loss within Bounds.MassWindow before it
// (failures in waves count together), and an earlier event in the window
// becomes part of the mass disappearance too (self-preservation holds every
// origin that failed within the window).
func (c *checker) lost(at time.Time, crash bool, gone []string, observers map[string]loss, clusterSize int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.opSeq++
	ev := &disappearance{at: at, seq: c.opSeq, crash: crash, owners: map[string]bool{}, losses: observers, mass: map[string]bool{}, nonEmpty: map[string][]string{}, reported: map[string]bool{}}
	for _, g := range gone {
		ev.owners[g] = true
	}
	for k, in := range c.insts {
		if in.registered && ev.owners[k.node] {
			ev.keys = append(ev.keys, k)
		}
	}
	b := c.bounds(clusterSize)
	// What each observer cannot reach already: the latest partition still
	// in force, and crashed nodes not restarted.
	var part *disappearance
	for _, e := range c.events {
		if !e.crash && !e.ended {
			part = e
		}
	}
	for obs, l := range observers {
		lost, of := l.lost, l.of
		// Self-preservation already engaged at the observer (a partition cut
		// off a mass of it): the catalog holds a crash in it like the rest.
		if crash && part != nil {
			down := part.losses[obs].lost + l.lost
			for _, e := range c.events {
				if e.crash && !e.ended && e.seq > part.seq {
					down += e.losses[obs].lost
				}
			}
			if pof := part.losses[obs].of; pof > 0 && down >= b.MassMin && float64(down)/float64(pof) >= b.MassFraction {
				ev.mass[obs] = true
			}
		}
		var window []*disappearance
		for _, e := range c.events {
			if e.ended || at.Sub(e.at) > b.MassWindow {
				continue
			}
			if el, ok := e.losses[obs]; ok && el.lost > 0 {
				window = append(window, e)
				lost += el.lost
				of += el.lost // the observer saw those nodes before they went
			}
		}
		if of == 0 || lost < b.MassMin || float64(lost)/float64(of) < b.MassFraction {
			// Preserved with the partition's losses (above): the partition's
			// own G5 watch covers its services, from when they were lost.
			continue
		}
		ev.mass[obs] = true
		for _, e := range window {
			e.mass[obs] = true
		}
		c.watchNonEmpty(ev, obs)
	}
	c.events = append(c.events, ev)
}

// watchNonEmpty starts G5's watch of obs for ev: every service obs answered
// non-empty last must stay non-empty. Caller holds mu.
func (c *checker) watchNonEmpty(ev *disappearance, obs string) {
	ev.nonEmpty[obs] = nil
	for svc, ans := range c.lastSample[obs] {
		if len(ans) > 0 {
			ev.nonEmpty[obs] = append(ev.nonEmpty[obs], svc)
		}
	}
}

// massAt reports whether ev is a mass disappearance for obs. An observer
// that (re)started after it but before every survivor could have detected
// it learns the failure as the survivors do: it follows them.
func (ev *disappearance) massAt(obs string) bool {
	if _, there := ev.losses[obs]; there && ev.joined[obs].IsZero() {
		return ev.mass[obs]
	}
	return len(ev.mass) > 0
}

// joiner reports whether obs (re)started after ev's crash was detected
// everywhere (Detect + Slack): its peers hand it the departure with the
// records (docs/guarantees.md, G4), so it must never serve the crashed
// instances fresh, nor stale next to fresh ones (stale over empty only).
func (ev *disappearance) joiner(obs string, b Bounds) bool {
	t := ev.joined[obs]
	return !t.IsZero() && t.Sub(ev.at) > b.Detect+b.Slack
}

// observerRestarted ends every stale-over-empty watch (G5) on obs: a
// restarted agent starts with an empty replica (its data directory holds its
// own registrations only), so it cannot serve what it held before.
func (c *checker) observerRestarted(obs string, at time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, ev := range c.events {
		delete(ev.nonEmpty, obs)
		if ev.joined == nil {
			ev.joined = map[string]time.Time{}
		}
		ev.joined[obs] = at
	}
}

// recovered ends the watch of disappearances involving node (restart), or all
// partition ones (heal).
func (c *checker) recovered(node string, heal bool, at time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, ev := range c.events {
		if heal && !ev.crash {
			ev.ended = true
		}
		if !heal && ev.owners[node] {
			ev.ended = true
		}
	}
	if heal {
		c.healAt = at
	}
}

// observeDisappearances checks G4 and G5 against every crash and mass
// disappearance being watched. Caller holds mu.
func (c *checker) observeDisappearances(s sample, v view, b Bounds) {
	registered := map[string]bool{}
	for _, in := range c.insts {
		if in.registered {
			registered[in.service] = true
		}
	}
	for _, ev := range c.events {
		if ev.ended || ev.seq > s.seq {
			continue
		}
		age := s.at.Sub(ev.at)
		fresh := false
		for obs, bySvc := range s.answers {
			for _, k := range ev.keys {
				in := c.insts[k]
				x, ok := v.present(obs, k)
				if !ok {
					continue
				}
				if !x.Stale {
					fresh = true
				}
				if !ev.crash {
					continue
				}
				if ev.joiner(obs, b) {
					c.checked[G4] = true
					switch {
					case !x.Stale && ev.once("fresh", obs, k.String()):
						c.violate(G4, s.at, "%s, started %v after the crash, serves crashed %s as fresh", obs, ev.joined[obs].Sub(ev.at).Round(time.Millisecond), k)
					case x.Stale && hasFresh(bySvc[in.service]) && ev.once("served", obs, k.String()):
						c.violate(G4, s.at, "%s, started %v after the crash, serves crashed %s (stale) next to fresh instances", obs, ev.joined[obs].Sub(ev.at).Round(time.Millisecond), k)
					}
					continue
				}
				if !x.Stale && age > b.Detect+b.Slack && ev.once("fresh", obs, k.String()) {
					c.checked[G4] = true
					c.violate(G4, s.at, "%s serves crashed %s as fresh %v after the crash (detect bound %v)", obs, k, age.Round(time.Millisecond), b.Detect+b.Slack)
				}
				if !ev.massAt(obs) && age > b.Withdraw() && hasFresh(bySvc[in.service]) && ev.once("served", obs, k.String()) {
					c.checked[G4] = true
					c.violate(G4, s.at, "%s still serves crashed %s %v after the crash (bound %v)", obs, k, age.Round(time.Millisecond), b.Withdraw())
				}
			}
			// Stale over empty holds for StaleMaxAge after the failure
			// (the product's leases.stale_max_age), not forever.
			if ev.mass[obs] && s.live[obs] && age <= b.StaleMaxAge {
				c.checked[G5] = true
				for _, svc := range ev.nonEmpty[obs] {
					if len(bySvc[svc]) == 0 && registered[svc] && ev.once("empty", obs, svc) {
						c.violate(G5, s.at, "%s answers %s empty %v after a mass disappearance", obs, svc, age.Round(time.Millisecond))
					}
				}
			}
		}
		if ev.crash && !fresh && ev.withdrawn == 0 {
			ev.withdrawn = max(age, time.Nanosecond)
		}
		if ev.crash && age > b.Withdraw() {
			c.checked[G4] = true
		}
	}
}

// once reports whether a violation is new for this event (and notes it).
func (ev *disappearance) once(kind, obs, what string) bool {
	k := kind + "|" + obs + "|" + what
	if ev.reported[k] {
		return false
	}
	ev.reported[k] = true
	return true
}

func hasFresh(xs []Seen) bool {
	for _, x := range xs {
		if !x.Stale {
			return true
		}
	}
	return false
}
