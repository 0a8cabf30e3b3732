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
	c.lastSample = s.answers
	c.observeAgreement(s)
	v := newView(s)
	c.observeInstances(s, v)
	c.observePropagation(s, v)
	c.observeDisappearances(s, v, c.bounds(s.n))
}

// view indexes one sample's answers by observer and instance.
type view map[string]map[instKey]Seen

func newView(s sample) view {
	v := make(view, len(s.answers))
	for obs, bySvc := range s.answers {
		m := map[instKey]Seen{}
		for _, ans := range bySvc {
			for _, x := range ans {
				m[instKey{x.Node, x.ID}] = x
			}
		}
		v[obs] = m
	}
	return v
}

// present reports whether obs serves k, and how.
func (v view) present(obs string, k instKey) (Seen, bool) {
	x, ok := v[obs][k]
	return x, ok
}

// observeAgreement records the share of live nodes on the majority hash and
// the convergence after a heal or a resume. Caller holds mu.
func (c *checker) observeAgreement(s sample) {
	counts := map[uint64]int{}
	best := 0
	for _, h := range s.hashes {
		counts[h]++
		best = max(best, counts[h])
	}
	if len(s.hashes) == 0 {
		return
	}
	c.agreement = append(c.agreement, point{c.since(s.at), float64(best) / float64(len(s.hashes))})
	if best == len(s.hashes) && !c.healAt.IsZero() {
		c.convergence = append(c.convergence, s.at.Sub(c.healAt))
		c.healAt = time.Time{}
	}
	if best == len(s.hashes) && !c.resumeAt.IsZero() {
		c.resumeConv = append(c.resumeConv, s.at.Sub(c.resumeAt))
		c.resumeAt = time.Time{}
	}
}

// observeInstances checks G2 on the owner's side and G3 everywhere. Caller
// holds mu.
func (c *checker) observeInstances(s sample, v view) {
	for k, in := range c.insts {
		for obs := range s.answers {
			if _, ok := v.present(obs, k); ok {
				if in.held == nil {
					in.held = map[string]bool{}
				}
				in.held[obs] = true
			}
		}
		if in.registered && in.regSeq <= s.seq && s.live[k.node] && !s.removing {
			c.checked[G2] = true
			if _, ok := v.present(k.node, k); !ok {
				c.violate(G2, s.at, "owner %s does not serve its own instance %s", k.node, k)
			}
		}
		if !in.registered && in.goneSeq <= s.seq {
			c.checked[G3] = true
			for obs := range s.answers {
				_, ok := v.present(obs, k)
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
}

// addTraffic records cumulative network counters.
func (c *checker) addTraffic(at time.Time, live int, packets, bytes uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.traffic = append(c.traffic, trafficSample{c.since(at), live, packets, bytes})
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
