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
	// ReportDir, if set, receives index.html (the report with plots).
	ReportDir string
	// DataDir is the root of the nodes' data directories. Default: a temporary
	// directory removed at the end.
	DataDir string
	// Log receives one line per step, every random choice and the seed.
	// Default io.Discard.
	Log io.Writer
	// Drain is how long Run waits after stopping every node, so in-flight
	// timers of the stopped nodes end (needed inside a synctest bubble, where
	// it costs no wall time). Default 0.
	Drain time.Duration
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
	return Bounds{Detect: detect, LeaseGrace: 10 * time.Second, MassFraction: 0.3, MassMin: 2, Slack: 2 * time.Second}
}

// runner executes one scenario.
type runner struct {
	sc   Scenario
	opts Options
	rng  *rand.Rand
	log  io.Writer
	cl   *cluster
	ck   *checker
	rep  *Report

	sampleEvery time.Duration
	linkDefault simnet.LinkConfig
	links       map[[2]string]bool // directed links with their own config
	flaps       []func()           // stops of the running flaps
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
	dir := opts.DataDir
	if dir == "" {
		d, err := os.MkdirTemp("", "grapevine-sim-")
		if err != nil {
			return Report{}, fmt.Errorf("sim: data dir: %w", err)
		}
		dir = d
		defer os.RemoveAll(d)
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
		cl:          &cluster{net: nw, factory: opts.Factory, dir: dir},
		linkDefault: ncfg.DefaultLink,
		links:       map[[2]string]bool{},
	}
	start := time.Now()
	wallStart := wallNow()
	r.ck = newChecker(start, opts.Bounds)
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

	stop()
	wg.Wait()
	r.sampleNow() // the final state
	closeErr := r.cl.closeAll()
	if opts.Drain > 0 {
		time.Sleep(opts.Drain)
	}
	r.finish(time.Since(start), wallNow().Sub(wallStart))
	if runErr == nil && closeErr != nil {
		runErr = closeErr
	}
	if runErr == nil && opts.ReportDir != "" {
		runErr = r.rep.WriteHTML(opts.ReportDir)
	}
	return *r.rep, runErr
}

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
	if r.sc.Nodes > 0 {
		if err := r.startNodes(ctx, -1, StartStep{Count: r.sc.Nodes}); err != nil {
			return err
		}
	}
	for i, st := range r.sc.Steps {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := r.step(ctx, i, st); err != nil {
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

func (r *runner) step(ctx context.Context, i int, st Step) error {
	kind := st.Kind()
	switch {
	case st.Start != nil:
		return r.startNodes(ctx, i, *st.Start)
	case st.Register != nil:
		return r.register(ctx, i, *st.Register)
	case st.Deregister != nil:
		return r.deregister(ctx, i, *st.Deregister)
	case st.Health != nil:
		return r.health(ctx, i, *st.Health)
	case st.Partition != nil:
		return r.partition(i, *st.Partition)
	case st.Cut != nil:
		return r.cut(i, *st.Cut)
	case st.Heal != nil:
		r.cl.net.Heal() // stops the flaps too
		r.flaps = nil
		r.ck.recovered("", true, time.Now())
		r.record(i, kind, "")
	case st.Flap != nil:
		return r.flap(i, *st.Flap)
	case st.Unflap != nil:
		for _, stop := range r.flaps {
			stop()
		}
		r.record(i, kind, fmt.Sprintf("%d links", len(r.flaps)))
		r.flaps = nil
	case st.LinkChange != nil:
		return r.link(i, *st.LinkChange)
	case st.Crash != nil:
		return r.crash(i, st.Crash.Nodes)
	case st.Restart != nil:
		return r.restart(ctx, i, *st.Restart)
	case st.Pause != nil:
		idx, err := r.pick(st.Pause.Nodes, r.cl.pool(stateLive))
		if err != nil {
			return err
		}
		for _, h := range idx {
			r.cl.setPaused(h, true)
		}
		r.record(i, kind, fmt.Sprintf("%v for %v", r.cl.names(idx), st.Pause.For))
		if st.Pause.For > 0 {
			if err := sleep(ctx, st.Pause.For); err != nil {
				return err
			}
			for _, h := range idx {
				r.cl.setPaused(h, false)
			}
			r.record(i, "resume", fmt.Sprint(r.cl.names(idx)))
		}
	case st.Resume != nil:
		idx, err := r.pick(st.Resume.Nodes, r.cl.pool(statePaused))
		if err != nil {
			return err
		}
		for _, h := range idx {
			r.cl.setPaused(h, false)
		}
		r.record(i, kind, fmt.Sprint(r.cl.names(idx)))
	case st.Leave != nil:
		idx, err := r.pick(st.Leave.Nodes, r.cl.pool(stateLive))
		if err != nil {
			return err
		}
		r.record(i, kind, fmt.Sprint(r.cl.names(idx)))
		for _, h := range idx {
			keys := r.ck.owned(nodeName(h), "")
			err := r.removal(func() error {
				if err := r.cl.leave(ctx, h); err != nil {
					return err
				}
				for _, k := range keys {
					r.ck.deregistered(k, time.Now(), "leave")
				}
				return nil
			})
			if err != nil {
				return err
			}
		}
	case st.Skew != nil:
		idx, err := r.pick(st.Skew.Nodes, r.cl.pool(stateLive, statePaused, stateCrashed))
		if err != nil {
			return err
		}
		for _, h := range idx {
			r.cl.host(h).skew.Store(int64(st.Skew.By))
		}
		r.record(i, kind, fmt.Sprintf("%v by %v", r.cl.names(idx), st.Skew.By))
	case st.Wait != nil:
		return r.wait(ctx, i, *st.Wait)
	case st.Assert != nil:
		return r.assert(i, st.Assert)
	}
	return nil
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

func (r *runner) startNodes(ctx context.Context, i int, s StartStep) error {
	idx, err := r.cl.addHosts(s.Count)
	if err != nil {
		return err
	}
	for _, h := range idx {
		if err := r.startHost(ctx, h); err != nil {
			return err
		}
	}
	r.record(i, "start", fmt.Sprintf("%d nodes (%s..%s)", len(idx), nodeName(idx[0]), nodeName(idx[len(idx)-1])))
	if s.NoWait {
		return nil
	}
	timeout := s.Timeout
	if timeout == 0 {
		timeout = 60 * time.Second
	}
	ok, detail, took, err := r.until(ctx, timeout, r.cl.membersComplete)
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("membership incomplete after %v: %s", timeout, detail)
	}
	r.logf("membership complete after %v", took.Round(time.Millisecond))
	return nil
}

// startHost starts (or restarts) host h and, if its node has a change feed
// (ChangeWatcher), connects the feed to the checker.
func (r *runner) startHost(ctx context.Context, h int) error {
	name := nodeName(h)
	r.ck.unfeed(name) // the previous incarnation's view is gone
	if err := r.cl.start(ctx, h); err != nil {
		return err
	}
	r.cl.mu.RLock()
	n := r.cl.hosts[h].node
	r.cl.mu.RUnlock()
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

func (r *runner) register(ctx context.Context, i int, s RegisterStep) error {
	idx, err := r.pick(s.Nodes, r.cl.pool(stateLive))
	if err != nil {
		return err
	}
	count := max(s.Count, 1)
	health := s.Health
	if health == "" {
		health = "passing"
	}
	r.record(i, "register", fmt.Sprintf("%s×%d at %s", s.Service, count, short(r.cl.names(idx))))
	for _, h := range idx {
		hs := r.cl.host(h)
		for k := range count {
			id := s.ID
			if id == "" {
				id = fmt.Sprintf("%s-%d", s.Service, k)
			}
			reg := Registration{
				ID: id, Service: s.Service, Address: strings.Split(hs.addr, ":")[0],
				Port: 8000 + k, Tags: s.Tags, Health: health,
			}
			if err := hs.node.Register(ctx, reg); err != nil {
				return fmt.Errorf("register %s at %s: %w", id, hs.name, err)
			}
			r.ck.registered(hs.name, reg, time.Now())
		}
	}
	return nil
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

func (r *runner) deregister(ctx context.Context, i int, s ServiceStep) error {
	idx, err := r.pick(s.Nodes, r.holders(s.Service, s.ID))
	if err != nil {
		return err
	}
	r.record(i, "deregister", fmt.Sprintf("%s at %s", s.Service, short(r.cl.names(idx))))
	for _, h := range idx {
		hs := r.cl.host(h)
		for _, k := range r.ck.owned(hs.name, s.Service) {
			if s.ID != "" && k.id != s.ID {
				continue
			}
			err := r.removal(func() error {
				if err := hs.node.Deregister(ctx, k.id); err != nil {
					return fmt.Errorf("deregister %s: %w", k, err)
				}
				r.ck.deregistered(k, time.Now(), "deregister")
				return nil
			})
			if err != nil {
				return err
			}
		}
	}
	return nil
}

func (r *runner) health(ctx context.Context, i int, s HealthStep) error {
	idx, err := r.pick(s.Nodes, r.holders(s.Service, s.ID))
	if err != nil {
		return err
	}
	r.record(i, "health", fmt.Sprintf("%s at %s → %s", s.Service, short(r.cl.names(idx)), s.Status))
	for _, h := range idx {
		hs := r.cl.host(h)
		for _, k := range r.ck.owned(hs.name, s.Service) {
			if s.ID != "" && k.id != s.ID {
				continue
			}
			if err := hs.node.SetHealth(ctx, k.id, s.Status); err != nil {
				return fmt.Errorf("health %s: %w", k, err)
			}
			r.ck.healthSet(k, s.Status, time.Now())
		}
	}
	return nil
}

func (r *runner) partition(i int, s PartitionStep) error {
	all := r.cl.pool(stateLive, statePaused, stateCrashed)
	groups := make([][]int, len(s.Groups))
	rest := -1
	used := map[int]bool{}
	for gi, g := range s.Groups {
		var sels []string
		for _, x := range g {
			if strings.TrimSpace(x) == "rest" {
				rest = gi
				continue
			}
			sels = append(sels, x)
		}
		var free []int
		for _, h := range all {
			if !used[h] {
				free = append(free, h)
			}
		}
		idx, err := r.pick(sels, free)
		if err != nil {
			return fmt.Errorf("group %d: %w", gi, err)
		}
		for _, h := range idx {
			used[h] = true
		}
		groups[gi] = append(groups[gi], idx...)
	}
	if rest >= 0 {
		for _, h := range all {
			if !used[h] {
				groups[rest] = append(groups[rest], h)
			}
		}
	}
	addrGroups := make([][]string, len(groups))
	var desc []string
	for gi, g := range groups {
		addrGroups[gi] = r.cl.addrs(g)
		desc = append(desc, short(r.cl.names(g)))
	}
	r.cl.net.Partition(addrGroups...)
	r.record(i, "partition", strings.Join(desc, " | "))

	// Each live observer loses the live nodes outside its group.
	live := map[int]bool{}
	for _, h := range r.cl.pool(stateLive) {
		live[h] = true
	}
	group := map[int]int{}
	for gi, g := range groups {
		for _, h := range g {
			group[h] = gi
		}
	}
	observers := map[string]loss{}
	var gone []string
	for h := range live {
		lost := 0
		for o := range live {
			if group[o] != group[h] {
				lost++
			}
		}
		observers[nodeName(h)] = loss{lost, len(live)}
	}
	r.ck.lost(time.Now(), false, gone, observers, len(live))
	return nil
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

func (r *runner) cut(i int, s CutStep) error {
	from, to, err := r.pickPair(s.From, s.To)
	if err != nil {
		return err
	}
	for _, a := range r.cl.addrs(from) {
		for _, b := range r.cl.addrs(to) {
			if a == b {
				continue
			}
			if s.Both {
				r.cl.net.CutLink(a, b)
			} else {
				r.cl.net.Cut(a, b)
			}
		}
	}
	arrow := "→"
	if s.Both {
		arrow = "↔"
	}
	r.record(i, "cut", fmt.Sprintf("%s %s %s", short(r.cl.names(from)), arrow, short(r.cl.names(to))))
	return nil
}

func (r *runner) flap(i int, s FlapStep) error {
	a, b, err := r.pickPair(s.Nodes, s.With)
	if err != nil {
		return err
	}
	seen := map[[2]int]bool{}
	for _, x := range a {
		for _, y := range b {
			if x == y || seen[[2]int{x, y}] || seen[[2]int{y, x}] {
				continue
			}
			seen[[2]int{x, y}] = true
			r.flaps = append(r.flaps, r.cl.net.Flap(simnet.Addr(x), simnet.Addr(y), s.Up, s.Down))
		}
	}
	r.record(i, "flap", fmt.Sprintf("%s ↔ %s: %d links, up %v down %v", short(r.cl.names(a)), short(r.cl.names(b)), len(seen), s.Up, s.Down))
	return nil
}

func applyLink(lc simnet.LinkConfig, l Link) simnet.LinkConfig {
	if l.Latency != nil {
		lc.Latency = *l.Latency
	}
	if l.Jitter != nil {
		lc.Jitter = *l.Jitter
	}
	if l.Loss != nil {
		lc.Loss = *l.Loss
	}
	if l.Duplicate != nil {
		lc.Duplicate = *l.Duplicate
	}
	switch l.Distribution {
	case "uniform":
		lc.Distribution = simnet.Uniform
	case "fixed":
		lc.Distribution = simnet.Fixed
	case "long_tail":
		lc.Distribution = simnet.LongTail
	}
	return lc
}

func (r *runner) link(i int, s LinkStep) error {
	if s.Reset {
		for l := range r.links {
			r.cl.net.ClearLink(l[0], l[1])
		}
		clear(r.links)
		r.linkDefault = applyLink(simnet.DefaultConfig().DefaultLink, r.sc.Link)
		if err := r.cl.net.SetDefaultLink(r.linkDefault); err != nil {
			return err
		}
	}
	if len(s.From) == 0 {
		r.linkDefault = applyLink(r.linkDefault, s.Link)
		if err := r.cl.net.SetDefaultLink(r.linkDefault); err != nil {
			return err
		}
		r.record(i, "link", fmt.Sprintf("default %+v", r.linkDefault))
		return nil
	}
	from, to, err := r.pickPair(s.From, s.To)
	if err != nil {
		return err
	}
	lc := applyLink(r.linkDefault, s.Link)
	set := func(a, b string) error {
		r.links[[2]string{a, b}] = true
		return r.cl.net.SetLink(a, b, lc)
	}
	for _, a := range r.cl.addrs(from) {
		for _, b := range r.cl.addrs(to) {
			if a == b {
				continue
			}
			if err := set(a, b); err != nil {
				return err
			}
			if s.Both {
				if err := set(b, a); err != nil {
					return err
				}
			}
		}
	}
	r.record(i, "link", fmt.Sprintf("%s → %s %+v", short(r.cl.names(from)), short(r.cl.names(to)), lc))
	return nil
}

func (r *runner) crash(i int, sels []string) error {
	liveBefore := r.cl.pool(stateLive)
	idx, err := r.pick(sels, r.cl.pool(stateLive, statePaused))
	if err != nil {
		return err
	}
	r.record(i, "crash", short(r.cl.names(idx)))
	// Note the instances before the crash, then crash them all at once.
	crashed := map[int]bool{}
	for _, h := range idx {
		crashed[h] = true
	}
	observers := map[string]loss{}
	for _, h := range liveBefore {
		if !crashed[h] {
			observers[nodeName(h)] = loss{len(idx), len(liveBefore)}
		}
	}
	r.ck.lost(time.Now(), true, r.cl.names(idx), observers, len(liveBefore))
	return r.removal(func() error {
		for _, h := range idx {
			if err := r.cl.crash(h); err != nil {
				return err
			}
		}
		return nil
	})
}

func (r *runner) restart(ctx context.Context, i int, s RestartStep) error {
	idx, err := r.pick(s.Nodes, r.cl.pool(stateLive, statePaused, stateCrashed))
	if err != nil {
		return err
	}
	r.record(i, "restart", fmt.Sprintf("%s wipe=%v every=%v", short(r.cl.names(idx)), s.Wipe, s.Every))
	for n, h := range idx {
		if n > 0 && s.Every > 0 {
			if err := sleep(ctx, s.Every); err != nil {
				return err
			}
		}
		hs := r.cl.host(h)
		err := r.removal(func() error {
			if st := r.cl.state(h); st == stateLive || st == statePaused {
				if st == statePaused {
					r.cl.setPaused(h, false)
				}
				if err := r.cl.crash(h); err != nil {
					return err
				}
			}
			if !s.Wipe {
				return nil
			}
			if err := os.RemoveAll(hs.dataDir); err != nil {
				return err
			}
			if err := os.MkdirAll(hs.dataDir, 0o755); err != nil {
				return err
			}
			for _, k := range r.ck.owned(hs.name, "") {
				r.ck.deregistered(k, time.Now(), "wipe")
			}
			return nil
		})
		if err != nil {
			return err
		}
		r.ck.recovered(hs.name, false, time.Now()) // before it serves again
		if err := r.startHost(ctx, h); err != nil {
			return err
		}
	}
	return nil
}

func (r *runner) wait(ctx context.Context, i int, w WaitStep) error {
	if w.Until == "" {
		r.record(i, "wait", w.For.String())
		return sleep(ctx, w.For)
	}
	timeout := w.Timeout
	if timeout == 0 {
		timeout = 60 * time.Second
	}
	var cond func() (bool, string)
	switch w.Until {
	case UntilConverged:
		cond = func() (bool, string) {
			if ok, d := r.cl.converged(); !ok {
				return false, d
			}
			return r.cl.membersComplete()
		}
	case UntilMembers:
		cond = r.cl.membersComplete
	case UntilPropagated:
		cond = func() (bool, string) {
			n := r.ck.pending()
			return n == 0, fmt.Sprintf("%d changes not seen everywhere", n)
		}
	}
	t0 := time.Now()
	ok, detail, took, err := r.until(ctx, timeout, cond)
	if err != nil {
		return err
	}
	res := fmt.Sprintf("until %s: ok after %v", w.Until, took.Round(time.Millisecond))
	if !ok {
		res = fmt.Sprintf("until %s: TIMEOUT after %v: %s", w.Until, timeout, detail)
	}
	r.record(i, "wait", res)
	switch w.Until {
	case UntilConverged:
		r.ck.convergenceResult(time.Now(), ok, "not converged within "+timeout.String()+": "+detail)
		if ok {
			// Lookups may lag the hash by a liveness refresh (leases revive
			// when membership says alive): G2 gets the rest of the timeout.
			lost, _, _, err := r.until(ctx, max(timeout-time.Since(t0), 0), func() (bool, string) {
				return r.lostNone(), ""
			})
			if err != nil {
				return err
			}
			if !lost {
				r.checkLost()
			} else {
				r.ck.markChecked(G2)
			}
		}
	case UntilMembers:
		if !ok {
			return errors.New(res)
		}
	}
	return nil
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

func (r *runner) assert(i int, names []string) error {
	var res []string
	for _, a := range names {
		var ok bool
		switch a {
		case AssertConverged:
			var detail string
			ok, detail = r.cl.converged()
			r.ck.convergenceResult(time.Now(), ok, "assert: "+detail)
		case AssertNoLost:
			ok = r.checkLost()
		case AssertNoResurrection:
			ok = r.ck.historyOK(G3)
		case AssertLeaseBound:
			ok = r.ck.historyOK(G4)
		case AssertStaleOverEmpty:
			ok = r.ck.historyOK(G5)
		}
		verdict := "ok"
		if !ok {
			verdict = "FAIL"
		}
		res = append(res, a+"="+verdict)
	}
	r.record(i, "assert", strings.Join(res, " "))
	return nil
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
		if now := time.Now(); now.Sub(lastTraffic) >= time.Second {
			lastTraffic = now
			tot := r.cl.net.Totals()
			r.ck.addTraffic(now, r.cl.count(stateLive), tot.PacketsSent, tot.BytesSent+tot.StreamBytesSent)
		}
	}
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
	for name, n := range r.cl.liveNodes() {
		hashes[name] = n.Hash()
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
