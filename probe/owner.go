package probe

import (
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
)

// ErrCheckOwned refuses a check whose ID another owner's check already has.
var ErrCheckOwned = errors.New("probe: check id belongs to another owner")

// Health is an owner's (a service instance's) health: the worst state of its
// checks (passing without checks), and the outputs of the checks in that state,
// in check ID order, one per line.
type Health struct {
	Owner  string
	Status Status
	Output string
}

// healthOf aggregates results (any order) into owner's health.
func healthOf(owner string, rs []Result) Health {
	sort.Slice(rs, func(i, j int) bool { return rs[i].CheckID < rs[j].CheckID })
	h := Health{Owner: owner, Status: Aggregate(rs)}
	var out []string
	for _, r := range rs {
		if r.Status == h.Status && r.Output != "" {
			out = append(out, r.Output)
		}
	}
	h.Output = strings.Join(out, "\n")
	return h
}

// plan is what Set would do for owner: the checks (defaults applied), which
// of them keep running as they are, and the health the owner has then.
type plan struct {
	checks []Check
	keep   map[string]bool // check ID → unchanged running check
	health Health
}

// planLocked validates checks for owner and computes the plan. Caller holds
// r.mu.
func (r *Runner) planLocked(owner string, checks []Check) (plan, error) {
	p := plan{keep: map[string]bool{}}
	seen := map[string]bool{}
	var rs []Result
	for i, c := range checks {
		c = c.WithDefaults().clone() // the caller may reuse its slices and maps
		if err := c.Validate(); err != nil {
			return plan{}, fmt.Errorf("check %d: %w", i+1, err)
		}
		if seen[c.ID] {
			return plan{}, fmt.Errorf("%w: check id %q twice", ErrInvalidCheck, c.ID)
		}
		seen[c.ID] = true
		st := c.InitialStatus
		output := ""
		if o, ok := r.reserved[c.ID]; ok && o != owner {
			return plan{}, fmt.Errorf("%w: check id %q belongs to %q", ErrCheckOwned, c.ID, o)
		}
		if e, ok := r.checks[c.ID]; ok {
			if e.owner != owner {
				return plan{}, fmt.Errorf("%w: check id %q belongs to %q", ErrCheckOwned, c.ID, e.owner)
			}
			if sameCheck(e.check, c) {
				p.keep[c.ID] = true
				st, output = e.state, e.output
			}
		}
		p.checks = append(p.checks, c)
		rs = append(rs, Result{CheckID: c.ID, Owner: owner, Status: st, Output: output})
	}
	p.health = healthOf(owner, rs)
	return p, nil
}

// Plan validates checks for owner, as Set would, and returns the health owner
// would have right after Set (running checks that stay unchanged keep their
// state; new ones start from InitialStatus). Nothing changes.
func (r *Runner) Plan(owner string, checks []Check) (Health, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	p, err := r.planLocked(owner, checks)
	return p.health, err
}

// Set makes checks the complete set of owner's checks: new ones start, changed
// ones restart from their InitialStatus, unchanged ones keep running as they
// are, and owner's other checks stop. Every check is validated first, and a
// check ID that another owner's check has is refused (ErrCheckOwned): on any
// error nothing changes.
//
// commit, if not nil, is called with the health owner will have, before
// anything changes; if it fails, nothing changes and Set returns its error.
// The agent registers the instance with that health in commit, so the instance
// exists before its first health transition arrives. After the change, owner's
// current health is published through Config.OnHealth (in order after every
// earlier transition), so the last health delivered is always the current one.
// Sets of one owner are serialized; Sets of different owners run
// concurrently, their commits too (so registrations share the catalog's
// group commit): the check IDs a Set plans are reserved for its owner until
// it applies. commit must not call Set or RemoveOwner(With) for the same
// owner (they wait for its lock).
func (r *Runner) Set(owner string, checks []Check, commit func(Health) error) error {
	defer r.owners.lock(owner)()
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return ErrClosed
	}
	p, err := r.planLocked(owner, checks)
	if err == nil {
		r.reserveLocked(owner, p.checks)
	}
	r.mu.Unlock()
	if err != nil {
		return err
	}
	defer r.release(p.checks)
	if commit != nil {
		if err := commit(p.health); err != nil {
			return err
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return ErrClosed
	}
	want := map[string]bool{}
	for _, c := range p.checks {
		want[c.ID] = true
		if p.keep[c.ID] && r.checks[c.ID] != nil {
			continue // unchanged and running (Sets of one owner are serialized; Add and Remove may not be)
		}
		if err := r.addLocked(owner, c); err != nil {
			return err // unreachable: validated above and not closed
		}
	}
	for _, e := range r.checks {
		if e.owner == owner && !want[e.check.ID] {
			r.removeLocked(e)
		}
	}
	r.queueLocked(event{health: r.healthLocked(owner)})
	return nil
}

// reserveLocked reserves checks' IDs for owner. Caller holds r.mu.
func (r *Runner) reserveLocked(owner string, checks []Check) {
	if r.reserved == nil {
		r.reserved = make(map[string]string)
	}
	for _, c := range checks {
		r.reserved[c.ID] = owner
	}
}

// release drops the reservations of checks.
func (r *Runner) release(checks []Check) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, c := range checks {
		delete(r.reserved, c.ID)
	}
}

// ownerLocks hands out one mutex per owner, kept while someone holds or
// waits for it.
type ownerLocks struct {
	mu    sync.Mutex
	locks map[string]*ownerLock
}

type ownerLock struct {
	// sem (capacity 1) is the lock: a channel, so that a waiter is durably
	// blocked under testing/synctest (the simulator runs agents in a bubble).
	sem  chan struct{}
	refs int // holders and waiters; guarded by ownerLocks.mu
}

// lock locks owner's mutex and returns its unlock.
func (o *ownerLocks) lock(owner string) (unlock func()) {
	o.mu.Lock()
	if o.locks == nil {
		o.locks = make(map[string]*ownerLock)
	}
	l := o.locks[owner]
	if l == nil {
		l = &ownerLock{sem: make(chan struct{}, 1)}
		o.locks[owner] = l
	}
	l.refs++
	o.mu.Unlock()
	l.sem <- struct{}{}
	return func() {
		<-l.sem
		o.mu.Lock()
		if l.refs--; l.refs == 0 {
			delete(o.locks, owner)
		}
		o.mu.Unlock()
	}
}

// Health returns owner's current health.
func (r *Runner) Health(owner string) Health {
	r.mu.Lock()
	defer r.mu.Unlock()
	return *r.healthLocked(owner)
}

// healthLocked aggregates owner's running checks. Caller holds r.mu.
func (r *Runner) healthLocked(owner string) *Health {
	var rs []Result
	for _, e := range r.checks {
		if e.owner == owner {
			rs = append(rs, e.resultLocked(e.state))
		}
	}
	h := healthOf(owner, rs)
	return &h
}
