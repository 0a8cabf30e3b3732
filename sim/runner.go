package sim

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/grapevine-sd/grapevine/sim/simnet"
)

// ErrNoFactory: Options.Factory is nil.
var ErrNoFactory = errors.New("sim: no node factory")

// Options configure one Run.
type Options struct {
	// Seed overrides the scenario's seed when non-zero.
	Seed uint64
	// Factory builds the nodes. Required.
	Factory Factory
	// Bounds returns the timing bounds for a cluster of n nodes (G4, G5).
	// Default DefaultBounds.
	Bounds func(n int) Bounds
	// ScenarioBounds, if set, replaces Bounds with the bounds for the
	// scenario's agent settings (Scenario.Agent; nil if it has none), e.g.
	// AgentScenarioBounds. Per-node settings of start and restart steps are
	// not taken into account.
	ScenarioBounds func(*AgentSettings) func(n int) Bounds
	// ReportDir, if set, receives index.html (the report with plots).
	ReportDir string
	// DataDir is the root of the nodes' data directories. Default: a temporary
	// directory removed at the end, in memory where the system has a tmpfs
	// for it (memTempDir).
	DataDir string
	// Log receives one line per step, every random choice and the seed.
	// Default io.Discard.
	Log io.Writer
	// Drain is how long Run waits after stopping every node, so in-flight
	// timers of the stopped nodes end (needed inside a synctest bubble, where
	// it costs no wall time). Default 0.
	Drain time.Duration
	// Progress, if set, is kept up to date with the run's position (for a
	// progress line; readable from any goroutine).
	Progress *Progress
	// Stopped, if set, is called when ctx ends the run early, with the
	// partial report (already written to ReportDir) and the reason, before
	// the nodes are stopped: stopping a thousand agents takes minutes. A
	// program may exit in it; if it returns, Run stops the nodes and returns
	// as usual.
	Stopped func(Report, error)
}

// DefaultBounds returns bounds for memberlist's LAN defaults as measured in
// docs/hazards.md (a crashed host is removed after ~8 s at 16 nodes, ~11 s at 100,
// ~15 s at 1000) and the catalog's default lease grace (10 s) and
// mass-disappearance threshold (30%, at least 2).
// Real agents should pass the bounds of their catalog config instead.
func DefaultBounds(n int) Bounds {
	detect := 10 * time.Second
	switch {
	case n > 300:
		detect = 20 * time.Second
	case n > 30:
		detect = 15 * time.Second
	}
	return Bounds{
		Detect: detect, LeaseGrace: 10 * time.Second, MassFraction: 0.3, MassMin: 2,
		MassWindow: 30 * time.Second, StaleMaxAge: 20 * time.Minute, Slack: 2 * time.Second,
	}
}

// runner executes one scenario.
type runner struct {
	sc   Scenario
	opts Options
	rng  *rand.Rand
	log  io.Writer
	cl   *cluster
	ck   *checker
	hl   *health
	rep  *Report

	sampleEvery time.Duration
	linkDefault simnet.LinkConfig
	links       map[[2]string]bool // directed links with their own config
	flaps       []func()           // stops of the running flaps
	restarts    atomic.Int64       // node restarts (restart and restore steps)
}

// Run executes the scenario and returns its report. The error is for the
// harness (a node that cannot start, a cancelled ctx, an unwritable report);
// invariant failures are in the Report (Report.Passed). Run uses the real
// clock (time.Now, time.Sleep), so inside a testing/synctest bubble the whole
// scenario runs in virtual time.
func Run(ctx context.Context, sc Scenario, opts Options) (rep Report, err error) {
	if opts.Factory == nil {
		return Report{}, ErrNoFactory
	}
	if err := sc.Validate(); err != nil {
		return Report{}, err
	}
	if opts.ScenarioBounds != nil {
		opts.Bounds = opts.ScenarioBounds(sc.Agent)
	}
	if opts.Bounds == nil {
		opts.Bounds = DefaultBounds
	}
	if opts.Log == nil {
		opts.Log = io.Discard
	}
	seed := sc.Seed
	if opts.Seed != 0 {
		seed = opts.Seed
	}
	if seed == 0 {
		seed = 1
	}
	dir, ownDir := opts.DataDir, opts.DataDir == ""
	if ownDir {
		// The process id in the name tells whose a left-over directory is.
		pattern := fmt.Sprintf("grapevine-sim-%d-", os.Getpid())
		d, err := os.MkdirTemp(memTempDir, pattern)
		if err != nil && memTempDir != "" {
			d, err = os.MkdirTemp("", pattern)
		}
		if err != nil {
			return Report{}, fmt.Errorf("sim: data dir: %w", err)
		}
		dir = d
		runDirs.add(d)
		defer runDirs.remove(d)
	}

	ncfg := simnet.DefaultConfig()
	ncfg.Seed = seed
	ncfg.DefaultLink = applyLink(ncfg.DefaultLink, sc.Link)
	nw, err := simnet.New(ncfg)
	if err != nil {
		return Report{}, fmt.Errorf("sim: network: %w", err)
	}
	r := &runner{
		sc: sc, opts: opts, log: opts.Log,
		rng:         rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)),
		cl:          &cluster{net: nw, factory: opts.Factory, dir: dir, agent: sc.Agent},
		linkDefault: ncfg.DefaultLink,
		links:       map[[2]string]bool{},
	}
	start := time.Now()
	wallStart := wallNow()
	r.ck = newChecker(start, opts.Bounds)
	r.hl = newHealth(start, opts.Bounds(max(sc.Nodes, 1)).Detect)
	r.cl.events = func(e MemberEvent) { r.hl.event(e, time.Now(), r.healthy) }
	r.rep = &Report{Scenario: sc.Name, Description: sc.Description, Seed: seed}
	r.sampleEvery = sc.Sample
	if r.sampleEvery == 0 {
		r.sampleEvery = 100 * time.Millisecond
		if sc.Nodes > 300 {
			r.sampleEvery = 250 * time.Millisecond
		}
	}
	r.logf("scenario %q seed %d", sc.Name, seed)

	sctx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() { r.sampler(sctx) })

	runErr := r.steps(ctx)
	if runErr != nil {
		r.rep.Stopped = runErr.Error()
		r.logf("stopped: %v", runErr)
	}

	stop()
	wg.Wait()
	r.sampleNow() // the final state
	r.countNodes()
	r.hl.close()
	if ctx.Err() != nil && opts.Stopped != nil {
		// Interrupted: the report first, then (if Stopped returns at all)
		// the slow part, stopping every node.
		elapsed := time.Since(start)
		r.finish(elapsed, wallNow().Sub(wallStart))
		r.hl.report(r.rep, start.Add(elapsed))
		var werr error
		if opts.ReportDir != "" {
			werr = r.rep.WriteHTML(opts.ReportDir)
		}
		if ownDir {
			runDirs.remove(dir) // Stopped may exit the process
		}
		opts.Stopped(*r.rep, errors.Join(runErr, werr))
	}
	closeErr := r.cl.closeAll()
	elapsed, wall := time.Since(start), wallNow().Sub(wallStart)
	if opts.Drain > 0 {
		time.Sleep(opts.Drain)
	}
	r.finish(elapsed, wall)
	r.hl.report(r.rep, start.Add(elapsed))
	if runErr == nil && closeErr != nil {
		runErr = closeErr
	}
	if opts.ReportDir != "" {
		// Also after an error or an interruption: the partial report.
		runErr = errors.Join(runErr, r.rep.WriteHTML(opts.ReportDir))
	}
	return *r.rep, runErr
}

// runDirs are the data directories the runs in progress made themselves.
var runDirs dirSet

// dirSet is a set of directories removed together.
type dirSet struct {
	mu sync.Mutex
	m  map[string]bool
}

func (s *dirSet) add(d string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m == nil {
		s.m = map[string]bool{}
	}
	s.m[d] = true
}

// remove removes d (and what is in it) and forgets it.
func (s *dirSet) remove(d string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.drop(d)
}

// removeAll removes every directory of the set.
func (s *dirSet) removeAll() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for d := range s.m {
		s.drop(d)
	}
}

// drop removes d if it is in the set (twice, if a run's agent wrote into it
// meanwhile) and forgets it. mu held.
func (s *dirSet) drop(d string) {
	if !s.m[d] {
		return
	}
	if os.RemoveAll(d) != nil {
		_ = os.RemoveAll(d)
	}
	delete(s.m, d)
}

// RemoveRunDirs removes the data directories of the runs in progress that
// made their own (Options.DataDir empty): for a process about to exit
// without letting its runs finish (a second interrupt), which would
// otherwise leave them behind in /dev/shm. The runs' agents may still write
// there; what they write after it is lost with the process.
func RemoveRunDirs() { runDirs.removeAll() }

// memTempDir is where a run's own data directories go: /dev/shm (a tmpfs on
// Linux), else (or if it cannot be written) the default temporary directory.
// In virtual time a goroutine in a system call holds the clock, so every
// fsync of an agent's data directory (its epoch file, its registration log)
// on a disk costs a real disk flush in which no simulated time passes: 200
// agents started in 24 s of wall time with the data on disk and in 9 s in
// memory, with the same CPU. The data directories are small (a few KiB per
// node; tmpfs pages do not count in the process's RSS).
var memTempDir = func() string {
	if fi, err := os.Stat("/dev/shm"); err == nil && fi.IsDir() {
		return "/dev/shm"
	}
	return ""
}()

// now is the time of the run (virtual inside a synctest bubble).
func (r *runner) now() time.Time { return time.Now() }

// wallNow is the wall clock; inside a synctest bubble it is virtual too, so
// the report's Wall equals Duration there (tests measure wall time outside).
var wallNow = time.Now

func (r *runner) logf(format string, a ...any) {
	fmt.Fprintf(r.log, "[%8s] ", time.Since(r.startTime()).Round(time.Millisecond))
	fmt.Fprintf(r.log, format+"\n", a...)
}

func (r *runner) startTime() time.Time {
	if r.ck == nil {
		return time.Now()
	}
	return r.ck.start
}

func (r *runner) steps(ctx context.Context) error {
	r.opts.Progress.setStep(-1, "start")
	if r.sc.Nodes > 0 {
		if err := (&StartStep{Count: r.sc.Nodes, Settle: true}).run(ctx, r, -1); err != nil {
			return err
		}
	}
	r.opts.Progress.setSteps(len(r.sc.Steps))
	for i, st := range r.sc.Steps {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("sim: interrupted before step %d (%s): %w", i, st.Kind(), err)
		}
		r.opts.Progress.setStep(i, st.Kind())
		if err := st.Action.run(ctx, r, i); err != nil {
			return fmt.Errorf("sim: step %d (%s): %w", i, st.Kind(), err)
		}
	}
	return nil
}

func (r *runner) record(i int, kind, detail string) {
	r.rep.Steps = append(r.rep.Steps, StepLog{Index: i, At: time.Since(r.ck.start), Kind: kind, Detail: detail})
	r.logf("step %d %s %s", i, kind, detail)
}

// pick resolves selectors against a pool and logs the choice.
func (r *runner) pick(sels []string, pool []int) ([]int, error) {
	return resolve(sels, pool, r.cl.state, r.rng)
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// startHost starts (or restarts) host h and, if its node has a change feed
// (ChangeWatcher), connects the feed to the checker.
func (r *runner) startHost(ctx context.Context, h int) error {
	name := nodeName(h)
	r.ck.unfeed(name) // the previous incarnation's view is gone
	r.ck.observerRestarted(name, r.now())
	if err := r.cl.start(ctx, h); err != nil {
		return err
	}
	n := r.cl.host(h).current()
	if w, ok := n.(ChangeWatcher); ok {
		gen := r.ck.startFeed(name)
		w.Watch(func(full bool, chs []ServedChange) { r.ck.served(name, gen, full, chs, time.Now()) })
	}
	return nil
}

// until polls cond every sample interval until it holds or timeout passes.
func (r *runner) until(ctx context.Context, timeout time.Duration, cond func() (bool, string)) (bool, string, time.Duration, error) {
	t0 := time.Now()
	for {
		ok, detail := cond()
		if ok {
			return true, "", time.Since(t0), nil
		}
		if time.Since(t0) >= timeout {
			return false, detail, time.Since(t0), nil
		}
		if err := sleep(ctx, min(r.sampleEvery, 100*time.Millisecond)); err != nil {
			return false, detail, time.Since(t0), err
		}
	}
}

// holders returns the live nodes holding instances of service (id if set).
func (r *runner) holders(service, id string) []int {
	var out []int
	for _, h := range r.cl.pool(stateLive) {
		for _, k := range r.ck.owned(nodeName(h), service) {
			if id == "" || k.id == id {
				out = append(out, h)
				break
			}
		}
	}
	return out
}

// pickPair resolves the two node sets of a link step (cut, link, flap) among
// every host, whatever its state.
func (r *runner) pickPair(x, y []string) ([]int, []int, error) {
	all := r.cl.pool(stateLive, statePaused, stateCrashed)
	a, err := r.pick(x, all)
	if err != nil {
		return nil, nil, err
	}
	b, err := r.pick(y, all)
	if err != nil {
		return nil, nil, err
	}
	return a, b, nil
}

// checkLost evaluates G2 on a fresh look at every live node.
func (r *runner) checkLost() bool {
	answers, live := r.observeAll()
	return r.ck.checkLost(time.Now(), answers, live)
}

// lostNone reports whether G2 holds now, without recording violations.
func (r *runner) lostNone() bool {
	answers, live := r.observeAll()
	return r.ck.lostNone(answers, live)
}

// observeAll asks every live node for every followed service.
func (r *runner) observeAll() (map[string]map[string][]Seen, map[string]bool) {
	svcs := r.ck.services()
	answers := map[string]map[string][]Seen{}
	live := map[string]bool{}
	for name, n := range r.cl.liveNodes() {
		live[name] = true
		m := make(map[string][]Seen, len(svcs))
		for _, s := range svcs {
			m[s] = n.Lookup(s)
		}
		answers[name] = m
	}
	return answers, live
}

// sampler observes every node every sample interval until ctx ends.
func (r *runner) sampler(ctx context.Context) {
	t := time.NewTicker(r.sampleEvery)
	defer t.Stop()
	lastTraffic := time.Time{}
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		r.sampleNow()
		now := time.Now()
		r.progress()
		if now.Sub(lastTraffic) >= time.Second {
			lastTraffic = now
			r.countNodes()
			tot := r.cl.net.Totals()
			r.ck.addTraffic(now, r.cl.count(stateLive), tot.PacketsSent, tot.BytesSent+tot.StreamBytesSent)
		}
	}
}

// progress brings Options.Progress up to date.
func (r *runner) progress() {
	if r.opts.Progress == nil {
		return
	}
	r.opts.Progress.update(time.Since(r.ck.start), r.cl.count(stateLive), r.cl.count(stateLive, statePaused, stateCrashed, stateLeft), r.ck.violationCount())
}

// removal runs op, a removal and its acknowledgement to the checker, marked
// as in flight for the samples taken meanwhile.
func (r *runner) removal(op func() error) error {
	r.ck.beginRemoval()
	defer r.ck.endRemoval()
	return op()
}

func (r *runner) sampleNow() {
	seq := r.ck.opSeqNow()
	gen0, busy := r.ck.removalState()
	at := time.Now()
	// Leases first: a lease that revives between this and the lookups shows
	// the instance (harmless); one read after the lookups could excuse an
	// absence it did not cause.
	var withheld map[string]map[string]bool
	if r.ck.hasRemoved() {
		withheld = map[string]map[string]bool{}
		for name, n := range r.cl.liveNodes() {
			if lr, ok := n.(LeaseReporter); ok {
				m := map[string]bool{}
				for _, o := range lr.Withheld() {
					m[o] = true
				}
				withheld[name] = m
			}
		}
	}
	answers, live := r.observeAll()
	hashes := map[string]uint64{}
	nodes := r.cl.liveNodes()
	preserving := map[string]bool{}
	for name, n := range nodes {
		hashes[name] = n.Hash()
		if hr, ok := n.(HealthReporter); ok && hr.Preserving() {
			preserving[name] = true
		}
	}
	r.hl.preservation(at, preserving)
	if subjects := r.hl.openSubjects(); len(subjects) > 0 {
		sees := map[string]map[string]bool{}
		for name, n := range nodes {
			if hr, ok := n.(HealthReporter); ok {
				m := map[string]bool{}
				for _, s := range subjects {
					m[s] = hr.Sees(s)
				}
				sees[name] = m
			}
		}
		r.hl.observe(at, sees, live, answers, func(n string) []instKey { return r.ck.owned(n, "") }, r.ck.serviceOf)
	}
	gen1, _ := r.ck.removalState()
	r.ck.observe(sample{at: at, seq: seq, answers: answers, hashes: hashes, live: live, withheld: withheld, n: r.cl.count(stateLive, statePaused, stateCrashed), removing: busy || gen1 != gen0})
}

// short abbreviates a long node list for logs.
func short(names []string) string {
	if len(names) <= 8 {
		return "[" + strings.Join(names, " ") + "]"
	}
	return fmt.Sprintf("[%s ... %s] (%d)", strings.Join(names[:4], " "), strings.Join(names[len(names)-2:], " "), len(names))
}

// adoptRestored tells the checker which instances host h serves as its own
// after a restore: the registrations of the restored copy, acknowledged by
// the node now.
func (r *runner) adoptRestored(_ context.Context, h int) error {
	hs := r.cl.host(h)
	n := hs.current()
	if n == nil {
		return errNoOwnView
	}
	for _, svc := range r.ck.services() {
		for _, x := range n.Lookup(svc) {
			if x.Node == hs.name {
				r.ck.registered(hs.name, Registration{ID: x.ID, Service: svc, Health: x.Health}, r.now())
			}
		}
	}
	return nil
}

// healthy reports whether subject is live, not paused, and reachable from
// observer both ways now.
func (r *runner) healthy(subject, observer string) bool {
	a, okA := parseNodeName(subject)
	b, okB := parseNodeName(observer)
	if !okA || !okB || r.cl.state(a) != stateLive || r.cl.state(b) != stateLive {
		return false
	}
	x, y := r.cl.host(a).address(), r.cl.host(b).address()
	return r.cl.net.Reachable(x, y) && r.cl.net.Reachable(y, x)
}

// countNodes records every live node's counters.
func (r *runner) countNodes() {
	for _, n := range r.cl.liveNodes() {
		if hr, ok := n.(HealthReporter); ok {
			r.hl.count(n, hr.Counters())
		}
	}
}

// trouble notes a fault on hosts idx, or on the network (none given): the
// failure detector's verdicts about them are not false deaths for a while.
func (r *runner) trouble(idx ...int) {
	now := r.now()
	if len(idx) == 0 {
		r.hl.trouble("", now)
	}
	for _, h := range idx {
		r.hl.trouble(nodeName(h), now)
	}
}
