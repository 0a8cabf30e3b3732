package sim

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"time"
)

// Report is the outcome of one Run.
type Report struct {
	Scenario    string
	Description string
	Seed        uint64
	// Duration is the simulated time the run took; Wall the wall-clock time
	// (equal to Duration inside a synctest bubble, where both are virtual).
	Duration, Wall time.Duration
	// Nodes is the number of hosts the scenario created.
	Nodes int
	// Invariants has one entry per guarantee G1-G5, in order.
	Invariants []InvariantResult
	// Propagation is the time from each acknowledged change (register,
	// deregister, health) until every live node reflected it; changes
	// superseded first are left out, Incomplete counts those never seen
	// everywhere.
	// Nodes with a change feed (ChangeWatcher) time it exactly; for the others
	// the time is that of the first sample showing it (resolution
	// Scenario.Sample). Sampled counts the changes whose figure involves a
	// sample; FeedDropouts how often a node's feed was dropped for being slow
	// and resynchronised (the changes in between are timed at the resync).
	Propagation  Dist
	Incomplete   int
	Sampled      int
	FeedDropouts int
	SampleEvery  time.Duration
	// Convergence holds, for each heal, the time until every live node had
	// the same catalog hash (as sampled); ResumeConvergence the same after
	// each resume of paused nodes.
	Convergence, ResumeConvergence []time.Duration
	// Stopped is why the run stopped before its last step (an interruption
	// or a harness error): the report is partial. Empty if it ran to the end.
	Stopped string
	// Withdrawal holds, per crash step, the time until no node served the
	// crashed instances as fresh.
	Withdrawal []time.Duration
	// FalseDeaths are healthy nodes declared failed: live, reachable both
	// ways and without a fault of their own or of the network for the
	// cluster's detection bound, yet marked failed by a peer's SWIM
	// suspicion timeout. PrematureWithdrawals counts (observer, instance)
	// pairs a false death took out of lookups.
	FalseDeaths          []FalseDeath
	PrematureWithdrawals int
	// Suspicions, Refutations and Deaths count the failure detector's
	// events as the nodes' memberlist logs report them: a peer suspected
	// (no ack), a suspicion about itself refuted, a peer marked failed on
	// its own suspicion timeout (failures learnt by gossip not included).
	Suspicions, Refutations, Deaths int
	// Preservation lists when each node was in self-preservation.
	Preservation []PreservationSpan
	// Rejoins: members contacted successfully by the nodes' rejoin loops.
	Rejoins uint64
	// GossipBytes sent by all nodes, by message kind: push (eager deltas),
	// sync (anti-entropy: deltas and whole-origin snapshots), digest,
	// repair.
	GossipBytes map[string]uint64
	// SavedBytes: data-directory bytes copied by save steps (backups and VM
	// snapshots).
	SavedBytes int64
	// Traffic per live node per second over the whole run (simnet counters:
	// packets, and packet plus stream bytes).
	MsgsPerNodeSec, BytesPerNodeSec float64
	Steps                           []StepLog
	Series                          Series
}

// FalseDeath is a healthy node declared failed.
type FalseDeath struct {
	Node, By  string        // the node, and the peer whose suspicion timeout declared it failed
	At        time.Duration // since the start
	Lasted    time.Duration // until every live peer saw it alive again (or it stopped)
	Observers int           // most peers that held it failed at once (sampled)
	Withdrawn int           // (observer, instance) pairs it cost
	Open      bool          // still not over at the end
}

// PreservationSpan is one node's time in self-preservation.
type PreservationSpan struct {
	Node     string
	From, To time.Duration // since the start
	Open     bool          // still engaged at the end
}

// InvariantResult is the verdict on one guarantee. An invariant nothing
// exercised is reported as not checked (and does not fail the run).
type InvariantResult struct {
	Name       string
	Checked    bool
	Violations int
	Examples   []string // the first violations
}

// Passed reports whether the invariant held (or was not checked).
func (r InvariantResult) Passed() bool { return r.Violations == 0 }

// Dist summarizes durations.
type Dist struct {
	N             int
	P50, P99, Max time.Duration
}

func distOf(ds []time.Duration) Dist {
	if len(ds) == 0 {
		return Dist{}
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	q := func(p float64) time.Duration {
		i := int(p*float64(len(s))+0.999999) - 1
		return s[min(max(i, 0), len(s)-1)]
	}
	return Dist{N: len(s), P50: q(0.50), P99: q(0.99), Max: s[len(s)-1]}
}

func (d Dist) String() string {
	if d.N == 0 {
		return "n=0"
	}
	r := func(x time.Duration) time.Duration { return x.Round(time.Millisecond) }
	return fmt.Sprintf("n=%d p50=%v p99=%v max=%v", d.N, r(d.P50), r(d.P99), r(d.Max))
}

// StepLog is what one step did.
type StepLog struct {
	Index  int // -1 for the initial start
	At     time.Duration
	Kind   string
	Detail string
}

// Series holds the sampled time series the plots draw (times since start).
type Series struct {
	// Agreement: share of live nodes holding the most common catalog hash.
	Agreement []Point
	// Seen: per change (first ones, at most maxCurves), fraction of live nodes
	// that reflect it, against time since the change.
	Seen []Curve
	// Bytes: bytes per second sent by the whole network.
	Bytes []Point
	// Preserving: how many nodes are in self-preservation.
	Preserving []Point
	// Steps marks fault steps on the time axis.
	Marks []Mark
}

// Point is one sample.
type Point struct {
	T time.Duration
	V float64
}

// Curve is one change's dissemination.
type Curve struct {
	Label  string
	Points []Point
}

// Mark is a labelled instant.
type Mark struct {
	T     time.Duration
	Label string
}

const maxCurves = 40

// Passed reports whether every invariant held.
func (r Report) Passed() bool {
	for _, inv := range r.Invariants {
		if !inv.Passed() {
			return false
		}
	}
	return true
}

// finish fills the report from the checker.
func (r *runner) finish(d, wall time.Duration) {
	c := r.ck
	c.mu.Lock()
	defer c.mu.Unlock()
	rep := r.rep
	rep.Duration, rep.Wall = d, wall
	rep.Nodes = len(r.cl.hosts)
	for _, name := range invariantOrder {
		rep.Invariants = append(rep.Invariants, InvariantResult{
			Name: name, Checked: c.checked[name], Violations: c.counts[name], Examples: c.violations[name],
		})
	}
	var prop []time.Duration
	for _, ch := range c.chs {
		switch {
		case ch.done > 0:
			prop = append(prop, ch.done)
			if ch.sampled {
				rep.Sampled++
			}
		case !ch.stale:
			rep.Incomplete++
		}
		if len(rep.Series.Seen) < maxCurves && (ch.done > 0 || !ch.stale) {
			cv := Curve{Label: ch.kind + " " + ch.key.String()}
			for _, p := range ch.curve {
				cv.Points = append(cv.Points, Point{p.t, p.frac})
			}
			rep.Series.Seen = append(rep.Series.Seen, cv)
		}
	}
	rep.Propagation = distOf(prop)
	rep.FeedDropouts = c.dropouts
	rep.SampleEvery = r.sampleEvery
	rep.Convergence = slices.Clone(c.convergence)
	rep.ResumeConvergence = slices.Clone(c.resumeConv)
	for _, ev := range c.events {
		if ev.crash && ev.withdrawn > 0 {
			rep.Withdrawal = append(rep.Withdrawal, ev.withdrawn)
		}
	}
	for _, p := range c.agreement {
		rep.Series.Agreement = append(rep.Series.Agreement, Point{p.t, p.v})
	}
	var liveSecs float64
	for k := 1; k < len(c.traffic); k++ {
		a, b := c.traffic[k-1], c.traffic[k]
		dt := (b.t - a.t).Seconds()
		if dt <= 0 {
			continue
		}
		rep.Series.Bytes = append(rep.Series.Bytes, Point{b.t, float64(b.bytes-a.bytes) / dt})
		liveSecs += dt * float64(b.live)
	}
	if n := len(c.traffic); n > 1 && liveSecs > 0 {
		first, last := c.traffic[0], c.traffic[n-1]
		rep.MsgsPerNodeSec = float64(last.packets-first.packets) / liveSecs
		rep.BytesPerNodeSec = float64(last.bytes-first.bytes) / liveSecs
	}
	for _, st := range rep.Steps {
		switch st.Kind {
		case "partition", "heal", "crash", "restart", "cut", "link", "pause", "resume", "leave", "flap", "unflap", "bridge", "slow", "clock", "skew", "save", "restore":
			rep.Series.Marks = append(rep.Series.Marks, Mark{st.At, st.Kind})
		case "start":
			if st.Index >= 0 { // not the scenario's first nodes
				rep.Series.Marks = append(rep.Series.Marks, Mark{st.At, st.Kind})
			}
		}
	}
}

// WriteText writes the human summary: verdicts, figures, steps.
func (r Report) WriteText(w io.Writer) error {
	var b strings.Builder
	verdict := "PASS"
	if !r.Passed() {
		verdict = "FAIL"
	}
	clock := fmt.Sprintf("%v simulated, %v wall", r.Duration.Round(time.Millisecond), r.Wall.Round(time.Millisecond))
	if r.Wall == r.Duration {
		// Run in a synctest bubble, where every clock is virtual: the wall
		// time is measured outside (e.g. by the test).
		clock = fmt.Sprintf("%v in virtual time", r.Duration.Round(time.Millisecond))
	}
	if r.Stopped != "" {
		verdict += " (partial: stopped early)"
	}
	fmt.Fprintf(&b, "scenario %s: %s (seed %d, %d nodes, %s)\n", r.Scenario, verdict, r.Seed, r.Nodes, clock)
	if r.Stopped != "" {
		fmt.Fprintf(&b, "  stopped: %s\n", r.Stopped)
	}
	for _, inv := range r.Invariants {
		st := "pass"
		switch {
		case !inv.Passed():
			st = fmt.Sprintf("FAIL (%d violations)", inv.Violations)
		case !inv.Checked:
			st = "not exercised"
		}
		fmt.Fprintf(&b, "  %-26s %s\n", inv.Name, st)
		for _, e := range inv.Examples {
			fmt.Fprintf(&b, "      %s\n", e)
		}
	}
	how := "timed by change feeds"
	if r.Sampled > 0 {
		how = fmt.Sprintf("%d of them sampled every %v", r.Sampled, r.SampleEvery)
	}
	fmt.Fprintf(&b, "  propagation                %v, incomplete %d (%s; %d feed drop-outs)\n", r.Propagation, r.Incomplete, how, r.FeedDropouts)
	fmt.Fprintf(&b, "  convergence after heal     %v\n", roundAll(r.Convergence))
	fmt.Fprintf(&b, "  convergence after resume   %v\n", roundAll(r.ResumeConvergence))
	fmt.Fprintf(&b, "  crash withdrawal           %v\n", roundAll(r.Withdrawal))
	fmt.Fprintf(&b, "  failure detector           %d suspicions, %d refutations, %d declared failed by suspicion timeout\n", r.Suspicions, r.Refutations, r.Deaths)
	fmt.Fprintf(&b, "  false deaths               %d (healthy nodes declared failed), %d premature withdrawals\n", len(r.FalseDeaths), r.PrematureWithdrawals)
	for k, fd := range r.FalseDeaths {
		if k == maxListed {
			fmt.Fprintf(&b, "      ... %d more\n", len(r.FalseDeaths)-k)
			break
		}
		open := ""
		if fd.Open {
			open = " (still at the end)"
		}
		fmt.Fprintf(&b, "      t=%v: %s declared failed by %s, for %v%s, by up to %d peers, %d withdrawals\n",
			fd.At.Round(time.Millisecond), fd.Node, fd.By, fd.Lasted.Round(time.Millisecond), open, fd.Observers, fd.Withdrawn)
	}
	fmt.Fprintf(&b, "  self-preservation          %s\n", preservationSummary(r.Preservation))
	fmt.Fprintf(&b, "  rejoins                    %d members contacted by rejoin loops\n", r.Rejoins)
	if len(r.GossipBytes) > 0 {
		var kinds []string
		for k, n := range r.GossipBytes {
			if n > 0 {
				kinds = append(kinds, k)
			}
		}
		slices.Sort(kinds)
		var parts []string
		for _, k := range kinds {
			parts = append(parts, fmt.Sprintf("%s %s", k, kib(r.GossipBytes[k])))
		}
		fmt.Fprintf(&b, "  gossip bytes sent          %s (sync carries snapshots)\n", strings.Join(parts, ", "))
	}
	if r.SavedBytes > 0 {
		fmt.Fprintf(&b, "  saved data directories     %s\n", kib(uint64(r.SavedBytes)))
	}
	fmt.Fprintf(&b, "  traffic per node           %.1f msgs/s, %.0f B/s\n", r.MsgsPerNodeSec, r.BytesPerNodeSec)
	fmt.Fprintf(&b, "  steps:\n")
	for _, st := range r.Steps {
		fmt.Fprintf(&b, "    %8v  %-10s %s\n", st.At.Round(time.Millisecond), st.Kind, st.Detail)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func roundAll(ds []time.Duration) []time.Duration {
	out := make([]time.Duration, len(ds))
	for i, d := range ds {
		out[i] = d.Round(time.Millisecond)
	}
	return out
}

// maxListed bounds the false deaths and preservation spans listed in text.
const maxListed = 10

func kib(b uint64) string { return fmt.Sprintf("%.1f KiB", float64(b)/1024) }

// preservationSummary says when and where self-preservation engaged and
// released.
func preservationSummary(spans []PreservationSpan) string {
	if len(spans) == 0 {
		return "never engaged"
	}
	nodes := map[string]bool{}
	first, last := spans[0].From, time.Duration(0)
	open := 0
	for _, sp := range spans {
		nodes[sp.Node] = true
		first = min(first, sp.From)
		if sp.Open {
			open++
		} else {
			last = max(last, sp.To)
		}
	}
	out := fmt.Sprintf("%d spans at %d nodes; first engaged t=%v", len(spans), len(nodes), first.Round(time.Millisecond))
	if last > 0 {
		out += fmt.Sprintf(", last released t=%v", last.Round(time.Millisecond))
	}
	if open > 0 {
		out += fmt.Sprintf(", %d still engaged at the end", open)
	}
	var sp []string
	for k, p := range spans {
		if k == maxListed {
			sp = append(sp, fmt.Sprintf("... %d more", len(spans)-k))
			break
		}
		to := p.To.Round(time.Millisecond).String()
		if p.Open {
			to = "end"
		}
		sp = append(sp, fmt.Sprintf("%s %v–%s", p.Node, p.From.Round(time.Millisecond), to))
	}
	return out + "\n      " + strings.Join(sp, ", ")
}
