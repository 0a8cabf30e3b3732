package sim

import (
	"slices"
	"time"
)

// change is one acknowledged change whose propagation is measured.
type change struct {
	key     instKey
	service string
	kind    string // register, deregister, health
	health  string
	at      time.Time
	seq     uint64
	seenBy  map[string]time.Duration // first time each observer reflected it (since at)
	done    time.Duration            // when every live node had it; 0 while pending
	stale   bool                     // superseded by a later change of the key before done
	sampled bool                     // some observer's time is a sample's (not a feed's)
	curve   []curvePoint             // fraction of live nodes that reflect it, per sample; at done, per observer
}

// reflects reports whether an observer serving x (ok) or not serving the
// instance (!ok) reflects the change.
func (ch *change) reflects(x Seen, ok bool) bool {
	switch ch.kind {
	case "register", "health":
		return ok && x.Health == ch.health
	default:
		return !ok
	}
}

// see notes that obs reflects the change at t (the first time only).
func (ch *change) see(obs string, t time.Time) {
	if _, seen := ch.seenBy[obs]; !seen {
		ch.seenBy[obs] = max(t.Sub(ch.at), 0)
	}
}

// feed is what a ChangeWatcher told the checker about one observer.
type feed struct {
	gen   uint64           // incarnation of the observer (its feed's calls carry it)
	ready bool             // the first full state has arrived
	state map[instKey]Seen // served instances
}

type curvePoint struct {
	t    time.Duration // since the change
	frac float64
}

// newChange supersedes pending changes of the key and starts a new one.
// Caller holds mu.
func (c *checker) newChange(k instKey, service, kind, health string, at time.Time) {
	for _, ch := range c.chs {
		if ch.key == k && ch.done == 0 && !ch.stale {
			ch.stale = true
		}
	}
	ch := &change{key: k, service: service, kind: kind, health: health, at: at, seq: c.opSeq, seenBy: map[string]time.Duration{}}
	c.chs = append(c.chs, ch)
	c.open[k] = ch
	// Fed observers that already reflect it (the owner's feed may run ahead
	// of the acknowledgement) saw it at once.
	for obs, f := range c.feeds {
		if f.ready {
			x, ok := f.state[k]
			if ch.reflects(x, ok) {
				ch.see(obs, at)
			}
		}
	}
}

// unfeed forgets obs's change feed and what obs held: its next incarnation
// starts unfed and with an empty catalog.
func (c *checker) unfeed(obs string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.feeds, obs)
	for _, in := range c.insts {
		delete(in.held, obs)
		delete(in.gone, obs)
	}
}

// startFeed registers a new change feed of obs and returns the generation its
// calls to served must carry; until its first full state, obs counts as not
// reflecting any pending change.
func (c *checker) startFeed(obs string) uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.feedGen++
	c.feeds[obs] = &feed{gen: c.feedGen, state: map[instKey]Seen{}}
	return c.feedGen
}

// served records what obs's change feed (generation gen) delivered at at.
func (c *checker) served(obs string, gen uint64, full bool, chs []ServedChange, at time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	f := c.feeds[obs]
	if f == nil || f.gen != gen {
		return // an earlier incarnation's late call
	}
	if full {
		if f.ready {
			c.dropouts++
		}
		f.ready = true
		f.state = make(map[instKey]Seen, len(chs))
		for _, x := range chs {
			f.state[instKey{x.Seen.Node, x.Seen.ID}] = x.Seen
		}
		for k, ch := range c.open {
			x, ok := f.state[k]
			if ch.reflects(x, ok) {
				ch.see(obs, at)
			}
		}
		return
	}
	for _, x := range chs {
		k := instKey{x.Seen.Node, x.Seen.ID}
		if x.Deleted {
			delete(f.state, k)
		} else {
			f.state[k] = x.Seen
		}
		if !f.ready {
			continue
		}
		if ch := c.open[k]; ch != nil {
			y, ok := f.state[k]
			if ch.reflects(y, ok) {
				ch.see(obs, at)
			}
		}
	}
}

// observePropagation: fed observers report the moment they reflect a change
// themselves (served); the sample fills in for the others. The sample decides
// when every live observer has it; the time is the last one's. Caller holds
// mu.
func (c *checker) observePropagation(s sample, v view) {
	for _, ch := range c.chs {
		if ch.done != 0 || ch.stale || ch.seq > s.seq {
			continue
		}
		have := 0
		for obs := range s.answers {
			if f := c.feeds[obs]; f == nil {
				if x, ok := v.present(obs, ch.key); ch.reflects(x, ok) {
					if _, seen := ch.seenBy[obs]; !seen {
						ch.sampled = true
					}
					ch.see(obs, s.at)
				}
			}
			if _, seen := ch.seenBy[obs]; seen {
				have++
			}
		}
		if len(s.answers) > 0 {
			ch.curve = append(ch.curve, curvePoint{s.at.Sub(ch.at), float64(have) / float64(len(s.answers))})
			if have == len(s.answers) {
				ch.finish(s.answers)
				if c.open[ch.key] == ch {
					delete(c.open, ch.key)
				}
			}
		}
	}

}

// maxCurvePoints bounds the points of one change's dissemination curve.
const maxCurvePoints = 200

// finish completes a change that every observer in live reflects: done is the
// last one's time, the curve steps through every observer's.
func (ch *change) finish(live map[string]map[string][]Seen) {
	ts := make([]time.Duration, 0, len(live))
	for obs := range live {
		ts = append(ts, ch.seenBy[obs])
	}
	slices.Sort(ts)
	ch.done = max(ts[len(ts)-1], time.Nanosecond)
	ch.curve = ch.curve[:0]
	step := max(1, len(ts)/maxCurvePoints)
	for i, t := range ts {
		if i%step == 0 || i == len(ts)-1 {
			ch.curve = append(ch.curve, curvePoint{t, float64(i+1) / float64(len(ts))})
		}
	}
}

// pending reports how many changes are neither propagated nor superseded.
func (c *checker) pending() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, ch := range c.chs {
		if ch.done == 0 && !ch.stale {
			n++
		}
	}
	return n
}
