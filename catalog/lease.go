package catalog

import (
	"container/heap"
	"time"
)

// The lease table: how the records of each origin are served, as a pure state
// machine. It holds the membership news of every origin and the
// self-preservation state; every method takes the time ("now") from its
// caller and returns what changed (leaseEvents) instead of acting on it: no
// lock, no I/O, no logging, no clock. The Catalog owns one under its mutex,
// applies the events to its records and logs them.
//
// Cost: a membership event or a Tick costs O(log members) plus the work that
// is due. Counters (alive, unreachable, recent failures) make the
// self-preservation decision O(1); every deadline of a member (end of grace,
// end of the mass-failure window, StaleMaxAge, ReapAfter, forgetting) is
// served by one entry per member in a time-ordered heap, so advancing time
// pops only the members with something due. Engaging or releasing
// self-preservation re-phases the failed origins: O(failed), once per flip.

// memberState is the membership news of an origin.
type memberState uint8

const (
	memberAlive memberState = iota
	memberFailed
	memberLeft
)

var memberStateNames = [...]string{"alive", "failed", "left"}

func (s memberState) String() string { return memberStateNames[s] }

// phase is how an origin's records are served.
type phase uint8

const (
	phaseLive      phase = iota // owner alive (or never reported): served fresh
	phaseStale                  // owner failed, within grace or held by self-preservation: served stale
	phaseExpired                // owner failed, past grace: served only by stale-over-empty
	phaseWithdrawn              // owner left, or failed longer than StaleMaxAge: not served
)

var phaseNames = [...]string{"live", "stale", "expired", "withdrawn"}

func (p phase) String() string { return phaseNames[p] }

// PreservationState describes self-preservation (see Config.MassFailureFraction).
type PreservationState struct {
	Active      bool      `json:"active"`
	Since       time.Time `json:"since"`       // when it engaged (zero if never)
	Unreachable int       `json:"unreachable"` // origins currently failed and not reaped
	Known       int       `json:"known"`       // alive + unreachable origins, self included
}

// member is the lease state of one origin.
type member struct {
	name  string
	state memberState
	since time.Time // when the current state was reported
	phase phase     // current phase
	// reported: the news came from a peer (a departure report), not from this
	// agent's own membership; the records are then never served fresh or
	// stale, only by stale-over-empty.
	reported bool
	// What the member adds to the table's counters.
	unreachable, recent bool
	reaped              bool // ReapAfter passed: Reap was emitted
	// Its next deadline and its place in the heap (-1: not queued).
	at   time.Time
	hidx int
}

// leaseEvents is what a lease table call changed, for the caller to apply.
type leaseEvents struct {
	// Phases: origins whose phase changed; their records are served anew.
	Phases []phaseChange
	// Reap: origins departed longer than ReapAfter: drop their records,
	// remember their epoch floor.
	Reap []string
	// Forget: origins the table dropped (departed longer than ReapAfter +
	// FloorMemory, or ReapAfter for news from peers): drop their records and
	// their epoch floor.
	Forget []forgotten
	// Preservation: self-preservation engaged or released.
	Preservation []preservationChange
}

type phaseChange struct {
	Origin   string
	From, To phase
}

type forgotten struct {
	Origin   string
	Reported bool
}

// preservationChange is self-preservation engaging (Active) or releasing, and
// why.
type preservationChange struct {
	Active      bool
	Capped      bool // released because PreservationMax passed
	Held        time.Duration
	Unreachable int
	Known       int
	Recent      int
}

// leases is the lease table. The zero value is not usable: see newLeases.
type leases struct {
	cfg      Config // the lease durations and self-preservation settings
	members  map[string]*member
	failed   map[string]*member // own news of failure: self-preservation may hold them
	reported int                // members known from peers' departure reports only
	// Counters over members: alive ones; failed ones younger than ReapAfter;
	// failed ones younger than MassFailureWindow.
	alive, unreachable, recent int
	preserve                   PreservationState
	due                        dueHeap
}

func newLeases(cfg Config) *leases {
	return &leases{
		cfg:      cfg,
		members:  make(map[string]*member),
		failed:   make(map[string]*member),
		preserve: PreservationState{Known: 1},
	}
}

// known reports whether the table holds news of origin.
func (l *leases) known(origin string) bool { return l.members[origin] != nil }

// phaseOf returns the phase of origin's records and the failure time (zero
// when live).
func (l *leases) phaseOf(origin string) (phase, time.Time) {
	m := l.members[origin]
	if m == nil || m.state == memberAlive {
		return phaseLive, time.Time{}
	}
	return m.phase, m.since
}

// reaped reports whether origin departed longer than ReapAfter ago: records of
// it that arrive again are to be reaped again.
func (l *leases) reaped(origin string) bool {
	m := l.members[origin]
	return m != nil && m.reaped
}

// set records this agent's own membership news of node at now (news from a
// peer about the same node is superseded). Repeating the current news changes
// nothing: changed is false.
func (l *leases) set(now time.Time, node string, st memberState) (ev leaseEvents, changed bool) {
	l.advance(now, &ev)
	m := l.members[node]
	switch {
	case m == nil:
		m = &member{name: node, state: memberAlive, hidx: -1}
		l.members[node] = m
		l.alive++
	case m.reported:
		m.reported = false
		l.reported--
	case m.state == st:
		return ev, false
	}
	l.change(m, st, now, now, &ev)
	return ev, true
}

// report records a peer's news that node departed (left, or failed) at since.
// It returns false, and changes nothing, when the table already holds news
// of node.
func (l *leases) report(now time.Time, node string, left bool, since time.Time) (leaseEvents, bool) {
	var ev leaseEvents
	l.advance(now, &ev)
	if l.members[node] != nil {
		return ev, false
	}
	m := &member{name: node, state: memberAlive, hidx: -1, reported: true}
	l.members[node] = m
	l.alive++
	l.reported++
	st := memberFailed
	if left {
		st = memberLeft
	}
	l.change(m, st, since, now, &ev)
	return ev, true
}

// change puts m in state st since since, then brings m up to now, re-evaluates
// self-preservation and re-phases m.
func (l *leases) change(m *member, st memberState, since, now time.Time, ev *leaseEvents) {
	l.setState(m, st, since)
	l.update(m, now, ev)
	l.preservation(now, ev)
	l.rephase(m, now, ev)
}

// tick advances the table to now: deadlines due are served, self-preservation
// re-evaluated (its cap included).
func (l *leases) tick(now time.Time) leaseEvents {
	var ev leaseEvents
	l.advance(now, &ev)
	return ev
}

// forget drops node's news at once (the epoch floors are full: the caller
// forgets the oldest departed origins).
func (l *leases) forget(now time.Time, node string) leaseEvents {
	var ev leaseEvents
	if m := l.members[node]; m != nil {
		l.drop(m, &ev)
		l.preservation(now, &ev)
	}
	return ev
}

// setState moves m to st since t and fixes the alive count.
func (l *leases) setState(m *member, st memberState, t time.Time) {
	if m.state == memberAlive {
		l.alive--
	}
	if st == memberAlive {
		l.alive++
	}
	m.state, m.since, m.reaped = st, t, false
	if st == memberFailed && !m.reported {
		l.failed[m.name] = m
	} else {
		delete(l.failed, m.name)
	}
}

// advance serves every deadline due at now, then re-evaluates
// self-preservation and the phases of the members it touched.
func (l *leases) advance(now time.Time, ev *leaseEvents) {
	var touched []*member
	for len(l.due) > 0 && !l.due[0].at.After(now) {
		m := heap.Pop(&l.due).(*member)
		if l.update(m, now, ev) {
			touched = append(touched, m)
		}
	}
	l.preservation(now, ev)
	for _, m := range touched {
		l.rephase(m, now, ev)
	}
}

// update brings m's counter contributions, reaping and forgetting up to now;
// it returns false when m was forgotten.
func (l *leases) update(m *member, now time.Time, ev *leaseEvents) bool {
	age := now.Sub(m.since)
	failed := m.state == memberFailed
	l.count(&l.unreachable, &m.unreachable, failed && age < l.cfg.ReapAfter)
	l.count(&l.recent, &m.recent, failed && age < l.cfg.MassFailureWindow)
	if m.state == memberAlive {
		return true
	}
	keep := l.cfg.ReapAfter + l.cfg.FloorMemory
	if m.reported {
		keep = l.cfg.ReapAfter
	}
	if age >= keep {
		l.drop(m, ev)
		return false
	}
	if age >= l.cfg.ReapAfter && !m.reaped {
		m.reaped = true
		ev.Reap = append(ev.Reap, m.name)
	}
	return true
}

func (l *leases) count(total *int, in *bool, want bool) {
	switch {
	case want && !*in:
		*total++
	case !want && *in:
		*total--
	}
	*in = want
}

// drop removes m from the table.
func (l *leases) drop(m *member, ev *leaseEvents) {
	l.count(&l.unreachable, &m.unreachable, false)
	l.count(&l.recent, &m.recent, false)
	if m.state == memberAlive {
		l.alive--
	}
	if m.reported {
		l.reported--
	}
	if m.hidx >= 0 {
		heap.Remove(&l.due, m.hidx)
	}
	delete(l.members, m.name)
	delete(l.failed, m.name)
	ev.Forget = append(ev.Forget, forgotten{Origin: m.name, Reported: m.reported})
}

// rephase recomputes m's phase (reporting a change) and queues its next
// deadline.
func (l *leases) rephase(m *member, now time.Time, ev *leaseEvents) {
	if p := l.phaseAt(m, now); p != m.phase {
		ev.Phases = append(ev.Phases, phaseChange{Origin: m.name, From: m.phase, To: p})
		m.phase = p
	}
	l.schedule(m, now)
}

// schedule queues m at its next deadline after now, if it has one.
func (l *leases) schedule(m *member, now time.Time) {
	var next time.Time
	if m.state != memberAlive {
		keep := l.cfg.ReapAfter + l.cfg.FloorMemory
		if m.reported {
			keep = l.cfg.ReapAfter
		}
		ds := [...]time.Duration{l.cfg.LeaseGrace, l.cfg.MassFailureWindow, l.cfg.StaleMaxAge, l.cfg.ReapAfter, keep}
		for _, d := range ds {
			if t := m.since.Add(d); t.After(now) && (next.IsZero() || t.Before(next)) {
				next = t
			}
		}
	}
	m.at = next
	switch {
	case next.IsZero() && m.hidx >= 0:
		heap.Remove(&l.due, m.hidx)
	case next.IsZero():
	case m.hidx >= 0:
		heap.Fix(&l.due, m.hidx)
	default:
		heap.Push(&l.due, m)
	}
}

// phaseAt computes the phase of m at now.
func (l *leases) phaseAt(m *member, now time.Time) phase {
	switch m.state {
	case memberAlive:
		return phaseLive
	case memberLeft:
		return phaseWithdrawn
	}
	age := now.Sub(m.since)
	if m.reported {
		if age < l.cfg.StaleMaxAge {
			return phaseExpired
		}
		return phaseWithdrawn
	}
	switch {
	case age < l.cfg.LeaseGrace:
		return phaseStale
	case l.preserve.Active && l.preserve.Since.Sub(m.since) < max(l.cfg.LeaseGrace, l.cfg.MassFailureWindow):
		// Failed in the mass disappearance (within the window before it was
		// recognized, or since), or still within grace then: held. SWIM
		// detects each member on its own, so one event's failures can lie
		// further apart than the grace.
		return phaseStale
	case age < l.cfg.StaleMaxAge:
		return phaseExpired
	}
	return phaseWithdrawn
}

// preservation engages or releases self-preservation from the counters; a
// flip re-phases the failed members.
func (l *leases) preservation(now time.Time, ev *leaseEvents) {
	p := &l.preserve
	known := 1 + l.alive + l.unreachable
	p.Known, p.Unreachable = known, l.unreachable
	f := l.cfg.MassFailureFraction
	if f == 0 {
		return
	}
	ch := preservationChange{Unreachable: l.unreachable, Known: known, Recent: l.recent}
	switch {
	case !p.Active && l.recent >= l.cfg.MassFailureMin && float64(l.recent) >= f*float64(known):
		p.Active, p.Since = true, now
		ch.Active = true
	case p.Active && float64(l.unreachable) < f*float64(known):
		p.Active = false
		ch.Held = now.Sub(p.Since)
	case p.Active && now.Sub(p.Since) >= l.cfg.PreservationMax:
		p.Active = false
		ch.Held, ch.Capped = now.Sub(p.Since), true
	default:
		return
	}
	ev.Preservation = append(ev.Preservation, ch)
	for _, m := range l.failed {
		if q := l.phaseAt(m, now); q != m.phase {
			ev.Phases = append(ev.Phases, phaseChange{Origin: m.name, From: m.phase, To: q})
			m.phase = q
		}
	}
}

// dueHeap orders members by their next deadline.
type dueHeap []*member

func (h dueHeap) Len() int           { return len(h) }
func (h dueHeap) Less(i, j int) bool { return h[i].at.Before(h[j].at) }
func (h dueHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].hidx, h[j].hidx = i, j
}
func (h *dueHeap) Push(x any) {
	m := x.(*member)
	m.hidx = len(*h)
	*h = append(*h, m)
}
func (h *dueHeap) Pop() any {
	old := *h
	m := old[len(old)-1]
	old[len(old)-1] = nil
	m.hidx = -1
	*h = old[:len(old)-1]
	return m
}
