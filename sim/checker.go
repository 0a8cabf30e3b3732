package sim

import (
	"fmt"
	"slices"
	"sort"
	"sync"
	"time"
)

// Invariant identifiers (docs/guarantees.md).
const (
	G1 = "G1 convergence"
	G2 = "G2 no lost registration"
	G3 = "G3 no resurrection"
	G4 = "G4 crash withdrawal"
	G5 = "G5 stale over empty"
)

var invariantOrder = []string{G1, G2, G3, G4, G5}

// maxViolations bounds the violations kept per invariant (the count is exact).
const maxViolations = 20

// instKey is an instance's global identity.
type instKey struct{ node, id string }

func (k instKey) String() string { return k.node + "/" + k.id }

// instance is the ground truth about one instance, as its owner acknowledged it.
type instance struct {
	key        instKey
	service    string
	health     string
	registered bool
	regSeq     uint64 // op seq of the last (re-)registration ack
	goneSeq    uint64 // op seq of the deregistration (or wipe, leave) ack; 0 if registered
	gone       map[string]bool
	// gone[observer]: the observer has been seen without the instance after goneSeq
	held map[string]bool
	// held[observer]: the observer has served the instance since it last
	// started. Only such an observer's absence counts as having seen the removal:
	// an observer (re)started with an empty catalog that learns an old copy from a
	// lagging peer is catching up (G1), not resurrecting (G3).
}

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

// checker records the history of every node's view and evaluates invariants.
// Its methods are safe for concurrent use: the runner records operations, the
// sampler records views.
type checker struct {
	mu     sync.Mutex // guards everything below
	start  time.Time
	bounds func(n int) Bounds
	opSeq  uint64
	insts  map[instKey]*instance

	removals   int    // removals in flight
	removalGen uint64 // removals begun

	svcs   []string // services followed, sorted
	chs    []*change
	events []*disappearance

	violations map[string][]string
	counts     map[string]int
	checked    map[string]bool

	healAt      time.Time // last heal not yet followed by convergence
	convergence []time.Duration
	resumeAt    time.Time // last resume not yet followed by convergence
	resumeConv  []time.Duration
	agreement   []point // share of live nodes holding the majority hash
	traffic     []trafficSample
	lastSample  map[string]map[string][]Seen // observer → service → answer

	feeds    map[string]*feed    // observers with a change feed (ChangeWatcher)
	feedGen  uint64              // last feed incarnation handed out
	dropouts int                 // feeds dropped and resynchronised
	open     map[instKey]*change // the pending change of each key, if any
}

type point struct {
	t time.Duration
	v float64
}

type trafficSample struct {
	t       time.Duration
	live    int
	packets uint64
	bytes   uint64
}

func newChecker(start time.Time, bounds func(int) Bounds) *checker {
	return &checker{
		start: start, bounds: bounds,
		insts:      map[instKey]*instance{},
		violations: map[string][]string{},
		counts:     map[string]int{},
		checked:    map[string]bool{},
		lastSample: map[string]map[string][]Seen{},
		feeds:      map[string]*feed{},
		open:       map[instKey]*change{},
	}
}

func (c *checker) since(t time.Time) time.Duration { return t.Sub(c.start) }

// violate records a violation. Caller holds mu.
func (c *checker) violate(inv string, at time.Time, format string, a ...any) {
	c.checked[inv] = true
	c.counts[inv]++
	if len(c.violations[inv]) < maxViolations {
		c.violations[inv] = append(c.violations[inv], fmt.Sprintf("t=%v: ", c.since(at).Round(time.Millisecond))+fmt.Sprintf(format, a...))
	}
}

// markChecked notes that an invariant was evaluated.
func (c *checker) markChecked(inv string) {
	c.mu.Lock()
	c.checked[inv] = true
	c.mu.Unlock()
}

func (c *checker) addService(s string) {
	if i, ok := slices.BinarySearch(c.svcs, s); !ok {
		c.svcs = slices.Insert(c.svcs, i, s)
	}
}

func (c *checker) services() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.svcs)
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

// registered records an acknowledged registration.
func (c *checker) registered(node string, r Registration, at time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.opSeq++
	k := instKey{node, r.ID}
	in := c.insts[k]
	if in == nil {
		in = &instance{key: k}
		c.insts[k] = in
	}
	in.service, in.health, in.registered = r.Service, r.Health, true
	in.regSeq, in.goneSeq, in.gone = c.opSeq, 0, nil
	c.addService(r.Service)
	c.newChange(k, r.Service, "register", r.Health, at)
}

// deregistered records an acknowledged removal: a deregistration, or the
// instances lost by a wiped restart or a leave (why says which).
func (c *checker) deregistered(k instKey, at time.Time, why string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	in := c.insts[k]
	if in == nil || !in.registered {
		return
	}
	c.opSeq++
	in.registered, in.goneSeq, in.gone = false, c.opSeq, map[string]bool{}
	c.newChange(k, in.service, why, "", at)
}

// healthSet records an acknowledged health change.
func (c *checker) healthSet(k instKey, health string, at time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	in := c.insts[k]
	if in == nil || !in.registered {
		return
	}
	c.opSeq++
	in.health = health
	c.newChange(k, in.service, "health", health, at)
}

// owned returns the registered instances of node (for service, or all if "").
func (c *checker) owned(node, service string) []instKey {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []instKey
	for k, in := range c.insts {
		if k.node == node && in.registered && (service == "" || in.service == service) {
			out = append(out, k)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].id < out[j].id })
	return out
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

// resumed starts the convergence-after-resume clock.
func (c *checker) resumed(at time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.resumeAt = at
}

// violationCount is the number of violations so far, all invariants.
func (c *checker) violationCount() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, k := range c.counts {
		n += k
	}
	return n
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

// hasRemoved reports whether any instance is removed (G3 has work).
func (c *checker) hasRemoved() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, in := range c.insts {
		if !in.registered {
			return true
		}
	}
	return false
}

// opSeqNow returns the current op sequence, taken at the start of a sample.
// beginRemoval notes that a removal is about to be issued; endRemoval that
// it was acknowledged (or failed). Samples taken while one is in flight do
// not hold owners to their unacknowledged state.
func (c *checker) beginRemoval() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.removals++
	c.removalGen++
}

func (c *checker) endRemoval() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.removals--
}

// removalState returns how many removals have begun and whether one is in
// flight now.
func (c *checker) removalState() (gen uint64, busy bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.removalGen, c.removals > 0
}

func (c *checker) opSeqNow() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.opSeq
}

// sample is one round of observations: answers[observer][service], taken at
// at after op sequence seq; owners maps each live node; hashes the catalog
// hash of each observer.
type sample struct {
	at      time.Time
	seq     uint64
	answers map[string]map[string][]Seen
	hashes  map[string]uint64
	live    map[string]bool // live observers (also the owners deemed alive)
	// withheld[observer][owner]: the observer withholds owner's records by
	// lease (LeaseReporter); nil when unknown.
	withheld map[string]map[string]bool
	n        int // cluster size for bounds
	// removing: a removal (deregistration, leave, crash, wipe) was in flight
	// at some point while the sample was taken; the owner may already not
	// serve an instance whose removal is not acknowledged yet, so G2's owner
	// check skips this sample.
	removing bool
}

// observe evaluates one sample against the history.
func (c *checker) observe(s sample) {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := c.since(s.at)
	b := c.bounds(s.n)
	c.lastSample = s.answers

	// Agreement and convergence after heal.
	counts := map[uint64]int{}
	best := 0
	for _, h := range s.hashes {
		counts[h]++
		best = max(best, counts[h])
	}
	if len(s.hashes) > 0 {
		c.agreement = append(c.agreement, point{t, float64(best) / float64(len(s.hashes))})
		if best == len(s.hashes) && !c.healAt.IsZero() {
			c.convergence = append(c.convergence, s.at.Sub(c.healAt))
			c.healAt = time.Time{}
		}
		if best == len(s.hashes) && !c.resumeAt.IsZero() {
			c.resumeConv = append(c.resumeConv, s.at.Sub(c.resumeAt))
			c.resumeAt = time.Time{}
		}
	}

	idx := make(map[string]map[instKey]Seen, len(s.answers))
	for obs, bySvc := range s.answers {
		m := map[instKey]Seen{}
		for _, ans := range bySvc {
			for _, x := range ans {
				m[instKey{x.Node, x.ID}] = x
			}
		}
		idx[obs] = m
	}
	present := func(obs string, k instKey, _ string) (Seen, bool) {
		x, ok := idx[obs][k]
		return x, ok
	}
	registered := map[string]bool{}
	for _, in := range c.insts {
		if in.registered {
			registered[in.service] = true
		}
	}

	// G2 on the owner's side, G3 everywhere.
	for k, in := range c.insts {
		for obs := range s.answers {
			if _, ok := present(obs, k, in.service); ok {
				if in.held == nil {
					in.held = map[string]bool{}
				}
				in.held[obs] = true
			}
		}
		if in.registered && in.regSeq <= s.seq && s.live[k.node] && !s.removing {
			c.checked[G2] = true
			if _, ok := present(k.node, k, in.service); !ok {
				c.violate(G2, s.at, "owner %s does not serve its own instance %s", k.node, k)
			}
		}
		if !in.registered && in.goneSeq <= s.seq {
			c.checked[G3] = true
			for obs := range s.answers {
				_, ok := present(obs, k, in.service)
				switch {
				case !ok && s.withheld[obs][k.node]:
					// absent by lease, not by removal: not "gone" yet
				case !ok && in.held[obs]:
					in.gone[obs] = true
				case in.gone[obs]:
					c.violate(G3, s.at, "%s reappeared at %s after it was removed there", k, obs)
					delete(in.gone, obs) // report each reappearance once
				}
			}
		}
	}

	// Propagation: fed observers report the moment they reflect a change
	// themselves (served); the sample fills in for the others. The sample
	// decides when every live observer has it; the time is the last one's.
	for _, ch := range c.chs {
		if ch.done != 0 || ch.stale || ch.seq > s.seq {
			continue
		}
		have := 0
		for obs := range s.answers {
			if f := c.feeds[obs]; f == nil {
				if x, ok := present(obs, ch.key, ch.service); ch.reflects(x, ok) {
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

	// G4 and G5.
	for _, ev := range c.events {
		if ev.ended || ev.seq > s.seq {
			continue
		}
		age := s.at.Sub(ev.at)
		fresh := false
		for obs, bySvc := range s.answers {
			for _, k := range ev.keys {
				in := c.insts[k]
				x, ok := present(obs, k, in.service)
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

// addTraffic records cumulative network counters.
func (c *checker) addTraffic(at time.Time, live int, packets, bytes uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.traffic = append(c.traffic, trafficSample{c.since(at), live, packets, bytes})
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

// lostNone reports whether checkLost would pass, recording nothing.
func (c *checker) lostNone(answers map[string]map[string][]Seen, live map[string]bool) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lostLocked(time.Time{}, answers, live, false)
}

// checkLost evaluates G2 at convergence: every registered instance of a live
// owner is in every live observer's answer.
func (c *checker) checkLost(at time.Time, answers map[string]map[string][]Seen, live map[string]bool) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.checked[G2] = true
	return c.lostLocked(at, answers, live, true)
}

func (c *checker) lostLocked(at time.Time, answers map[string]map[string][]Seen, live map[string]bool, record bool) bool {
	ok := true
	for k, in := range c.insts {
		if !in.registered || !live[k.node] {
			continue
		}
		for obs := range answers {
			found := false
			for _, x := range answers[obs][in.service] {
				if x.Node == k.node && x.ID == k.id {
					found = true
					break
				}
			}
			if !found {
				ok = false
				if !record {
					return false
				}
				c.violate(G2, at, "%s registered at live %s is missing at %s after convergence", k, k.node, obs)
			}
		}
	}
	return ok
}

// failConvergence records a G1 violation.
func (c *checker) convergenceResult(at time.Time, ok bool, detail string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.checked[G1] = true
	if !ok {
		c.violate(G1, at, "%s", detail)
	}
}

// historyOK reports whether inv has no violation so far (for assert steps).
func (c *checker) historyOK(inv string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.checked[inv] = true
	return c.counts[inv] == 0
}

// serviceOf returns the service of a known instance.
func (c *checker) serviceOf(k instKey) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if in := c.insts[k]; in != nil {
		return in.service
	}
	return ""
}
