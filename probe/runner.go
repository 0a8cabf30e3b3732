package probe

import (
	"context"
	"fmt"
	"math/rand/v2"
	"reflect"
	"sort"
	"sync"
	"time"

	"github.com/rs/zerolog"
)

// Config configures a Runner.
type Config struct {
	// Logger receives state changes and stuck probes. Default zerolog.Nop().
	Logger zerolog.Logger
	// OnHealth is called with an owner's (a service instance's) health when
	// it may have changed: after each state change of one of its checks, and
	// after Set. It carries the worst state of the owner's checks and their
	// outputs (see Health); the last call for an owner is its current health.
	// Called from one goroutine, in order, never from a probe loop, with no
	// lock held; it must not block long (later calls queue up behind it). It is
	// the one callback the agent needs: it publishes the health to the catalog.
	// May be nil.
	OnHealth func(Health)
	// OnChange is called when a check's state changes (after rise/fall), with
	// Previous set. Same goroutine and ordering as OnHealth (a check's OnChange
	// comes before its owner's OnHealth). It is not called for the initial state
	// set by Add or Set. May be nil.
	OnChange func(Result)
	// OnDeregister is called once when a check with DeregisterCriticalAfter has
	// been critical that long; the caller should deregister Result.Owner. Same
	// goroutine and ordering as OnHealth. May be nil.
	OnDeregister func(Result)
	// Seed seeds the random initial splay of the checks; 0 draws a random seed.
	// Tests set it for reproducible schedules.
	Seed uint64
	// MaxSplay bounds the random delay before a check's first probe: uniform in
	// [0, min(Interval, MaxSplay)). Default 5s: checks desynchronize, yet a new
	// instance is probed within seconds. 0 means "up to one Interval".
	MaxSplay time.Duration
	// WatchdogGrace is added to a check's Timeout: a probe that has not returned
	// by then is reported critical ("probe stuck"). Default 2s.
	WatchdogGrace time.Duration
}

// DefaultConfig returns a Config with the defaults documented on its fields.
func DefaultConfig() Config {
	return Config{
		Logger:        zerolog.Nop(),
		MaxSplay:      5 * time.Second, // fast first result for new instances
		WatchdogGrace: 2 * time.Second, // a probe honouring its timeout is never near it
	}
}

// Validate reports a Config that New cannot use.
func (c Config) Validate() error {
	if c.MaxSplay < 0 {
		return fmt.Errorf("%w: max_splay %s is negative", ErrInvalidConfig, c.MaxSplay)
	}
	if c.WatchdogGrace <= 0 {
		return fmt.Errorf("%w: watchdog_grace %s must be positive", ErrInvalidConfig, c.WatchdogGrace)
	}
	return nil
}

// Runner schedules and runs checks and keeps their states. Safe for concurrent
// use. See the package comment for the concurrency contract.
type Runner struct {
	cfg    Config
	log    zerolog.Logger
	ctx    context.Context // canceled by Close
	cancel context.CancelFunc
	wg     sync.WaitGroup // check loops, probes and the notifier
	owners ownerLocks     // serializes the Sets of one owner (held across its commit, never with mu)

	mu     sync.Mutex // guards the fields below and every entry's state
	checks map[string]*entry
	// reserved holds the check IDs of Sets between their plan and their
	// apply (check ID → owner), so that concurrent Sets of other owners
	// cannot claim them meanwhile.
	reserved map[string]string
	rng      *rand.Rand
	events   []event       // queued callbacks, in order
	wake     chan struct{} // cap 1: events were queued
	closed   bool

	mkProbe func(Check) probeFunc // newProbe; tests substitute scripted probes
}

// entry is one added check. Its state fields are guarded by Runner.mu.
type entry struct {
	check  Check
	owner  string
	probe  probeFunc     // nil for TTL
	cancel func()        // stops the loop
	wake   chan struct{} // cap 1: TTL refreshed

	state         Status
	output        string
	updated       time.Time
	successes     int       // consecutive passing results
	failures      int       // consecutive non-passing results
	criticalSince time.Time // zero unless state is critical
	deregSent     bool      // OnDeregister done for this critical spell
	expires       time.Time // TTL checks: critical after this
	expired       bool      // TTL checks: expiry already reported
}

// event is one queued callback: health set → OnHealth, else deregister →
// OnDeregister, else OnChange.
type event struct {
	health     *Health
	deregister bool
	result     Result
}

// New returns a running Runner, or the error of cfg.Validate.
func New(cfg Config) (*Runner, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	seed := cfg.Seed
	if seed == 0 {
		seed = rand.Uint64()
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &Runner{
		cfg:    cfg,
		log:    cfg.Logger.With().Str("component", "probe").Logger(),
		ctx:    ctx,
		cancel: cancel,
		checks: make(map[string]*entry),
		rng:    rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)),
		wake:   make(chan struct{}, 1),

		mkProbe: newProbe,
	}
	r.wg.Add(1)
	go r.notify()
	return r, nil
}

// Add starts running c for owner (the service instance ID it belongs to).
// Defaults are applied and c validated first; an invalid check changes
// nothing. Adding a check whose ID exists replaces it and restarts it from its
// InitialStatus, unless owner and definition are unchanged: then the running
// check is kept as it is (re-registration does not reset health).
//
// Add manages one check; Set manages all of an owner's checks at once and is
// what an owner's registration should use.
func (r *Runner) Add(owner string, c Check) error {
	c = c.WithDefaults().clone() // the caller may reuse its slices and maps
	if err := c.Validate(); err != nil {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.addLocked(owner, c)
}

// sameCheck reports whether a and b define the same check: equal fields,
// and both or neither restricted by AllowAddr (functions do not compare;
// the agent gives every check of a kind the same one).
func sameCheck(a, b Check) bool {
	if (a.AllowAddr == nil) != (b.AllowAddr == nil) || a.resolver != b.resolver {
		return false
	}
	a.AllowAddr, b.AllowAddr, a.resolver, b.resolver = nil, nil, nil, nil
	return reflect.DeepEqual(a, b)
}

// addLocked starts c (validated, defaults applied) for owner. Caller holds r.mu.
func (r *Runner) addLocked(owner string, c Check) error {
	if r.closed {
		return ErrClosed
	}
	if old, ok := r.checks[c.ID]; ok {
		if old.owner == owner && sameCheck(old.check, c) {
			return nil
		}
		r.removeLocked(old)
	}
	now := time.Now()
	ctx, cancel := context.WithCancel(r.ctx)
	e := &entry{
		check: c, owner: owner, cancel: cancel, wake: make(chan struct{}, 1),
		state: c.InitialStatus, output: "", updated: now,
	}
	if c.InitialStatus == Critical {
		e.criticalSince = now
	}
	var splay time.Duration
	if c.Type == TTL {
		e.expires = now.Add(c.TTL)
	} else {
		e.probe = r.mkProbe(c)
		limit := c.Interval
		if r.cfg.MaxSplay > 0 {
			limit = min(limit, r.cfg.MaxSplay)
		}
		splay = time.Duration(r.rng.Int64N(int64(limit)))
	}
	r.checks[c.ID] = e
	r.wg.Add(1)
	go r.loop(ctx, e, now.Add(splay))
	r.log.Debug().Str("check_id", c.ID).Str("owner", owner).Str("type", string(c.Type)).Msg("check added")
	return nil
}

// Remove stops the check with this ID. It does not wait for a running probe
// (Close does); the probe's result is discarded. Returns ErrUnknownCheck if
// there is no such check.
func (r *Runner) Remove(checkID string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	e, ok := r.checks[checkID]
	if !ok {
		return ErrUnknownCheck
	}
	r.removeLocked(e)
	return nil
}

// RemoveOwner stops every check of owner and returns how many there were.
func (r *Runner) RemoveOwner(owner string) int {
	n, _ := r.RemoveOwnerWith(owner, nil)
	return n
}

// RemoveOwnerWith is RemoveOwner after commit, both serialized with Set for
// the same owner (the agent deregisters the instance in commit): a Set of the
// owner runs wholly before or wholly after, so its checks and its
// registration stay together. If commit fails nothing is removed; commit
// must not call Set or RemoveOwner(With) for the same owner.
func (r *Runner) RemoveOwnerWith(owner string, commit func() error) (int, error) {
	defer r.owners.lock(owner)()
	if commit != nil {
		if err := commit(); err != nil {
			return 0, err
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, e := range r.checks {
		if e.owner == owner {
			r.removeLocked(e)
			n++
		}
	}
	return n, nil
}

func (r *Runner) removeLocked(e *entry) {
	delete(r.checks, e.check.ID)
	e.cancel()
}

// Status returns the current state of a check.
func (r *Runner) Status(checkID string) (Result, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	e, ok := r.checks[checkID]
	if !ok {
		return Result{}, false
	}
	return e.resultLocked(e.state), true
}

// ByOwner returns the states of owner's checks, sorted by check ID. Feed it to
// Aggregate for the owner's health.
func (r *Runner) ByOwner(owner string) []Result {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []Result
	for _, e := range r.checks {
		if e.owner == owner {
			out = append(out, e.resultLocked(e.state))
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].CheckID < out[j].CheckID })
	return out
}

// UpdateTTL sets the state of a TTL check and restarts its TTL. Rise/fall do
// not apply: the service states its health directly. output is cut to
// MaxOutput bytes.
func (r *Runner) UpdateTTL(checkID string, status Status, output string) error {
	if !status.Valid() {
		return fmt.Errorf("%w: %q", ErrInvalidStatus, truncate(string(status), 32))
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	e, ok := r.checks[checkID]
	if !ok {
		return ErrUnknownCheck
	}
	if e.check.Type != TTL {
		return ErrNotTTL
	}
	now := time.Now()
	e.expires = now.Add(e.check.TTL)
	e.expired = false
	r.setLocked(e, status, clipOutput(output), now)
	select {
	case e.wake <- struct{}{}:
	default:
	}
	return nil
}

// Close stops every check and waits for all goroutines (probes honour their
// context, so this takes at most about a second). Pending callbacks are
// dropped. Idempotent; Add fails with ErrClosed afterwards.
func (r *Runner) Close() error {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		r.wg.Wait()
		return nil
	}
	r.closed = true
	for _, e := range r.checks {
		r.removeLocked(e)
	}
	r.mu.Unlock()
	r.cancel()
	r.wg.Wait()
	return nil
}

func (e *entry) resultLocked(prev Status) Result {
	return Result{
		CheckID: e.check.ID, Name: e.check.Name, Owner: e.owner,
		Status: e.state, Previous: prev, Output: e.output, Time: e.updated,
	}
}

// live reports whether e is still the runner's check for its ID (not removed
// or replaced). Caller holds r.mu.
func (r *Runner) live(e *entry) bool { return r.checks[e.check.ID] == e }

// recordLocked applies one probe result through the rise/fall thresholds.
func (r *Runner) recordLocked(e *entry, st Status, output string, now time.Time) {
	next := e.state
	if st == Passing {
		e.successes++
		e.failures = 0
		if e.successes >= e.check.Rise {
			next = Passing
		}
	} else {
		e.failures++
		e.successes = 0
		if e.failures >= e.check.Fall {
			next = st
		}
	}
	r.setLocked(e, next, output, now)
}

// setLocked sets e's state and output and queues OnChange on a state change.
func (r *Runner) setLocked(e *entry, st Status, output string, now time.Time) {
	prev := e.state
	e.state, e.output, e.updated = st, output, now
	if st == prev {
		return
	}
	if st == Critical {
		e.criticalSince = now
	} else {
		e.criticalSince = time.Time{}
	}
	e.deregSent = false
	r.log.Info().Str("check_id", e.check.ID).Str("owner", e.owner).
		Str("from", string(prev)).Str("to", string(st)).Str("output", truncate(output, 256)).Msg("check state changed")
	r.queueLocked(event{result: e.resultLocked(prev)})
	r.queueLocked(event{health: r.healthLocked(e.owner)})
}

func (r *Runner) queueLocked(ev event) {
	r.events = append(r.events, ev)
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// notify delivers queued callbacks in order, outside every lock.
func (r *Runner) notify() {
	defer r.wg.Done()
	for {
		select {
		case <-r.ctx.Done():
			return
		case <-r.wake:
		}
		for {
			r.mu.Lock()
			if len(r.events) == 0 || r.closed {
				r.mu.Unlock()
				break
			}
			ev := r.events[0]
			r.events[0] = event{}
			r.events = r.events[1:]
			r.mu.Unlock()
			if ev.health != nil {
				if r.cfg.OnHealth != nil {
					r.cfg.OnHealth(*ev.health)
				}
			} else if ev.deregister {
				if r.cfg.OnDeregister != nil {
					r.cfg.OnDeregister(ev.result)
				}
			} else if r.cfg.OnChange != nil {
				r.cfg.OnChange(ev.result)
			}
		}
	}
}

// Definition returns the definition (defaults applied) of the check with
// this ID.
func (r *Runner) Definition(checkID string) (Check, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	e, ok := r.checks[checkID]
	if !ok {
		return Check{}, false
	}
	return e.check.clone(), true
}
