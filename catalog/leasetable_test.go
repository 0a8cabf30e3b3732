package catalog

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"
)

// The lease table as a table of transitions: each case is a sequence of
// steps on a fresh table; each step lists exactly the events it must return,
// in a canonical order (phases, reaps, forgets, preservation), and the state
// of the named origins afterwards.

func leaseTestConfig() Config {
	cfg := DefaultConfig()
	cfg.Node = "self"
	cfg.LeaseGrace = 10 * time.Second
	cfg.StaleMaxAge = 60 * time.Second
	cfg.ReapAfter = 120 * time.Second
	cfg.FloorMemory = 60 * time.Second
	cfg.MassFailureFraction = 0.3
	cfg.MassFailureWindow = 30 * time.Second
	cfg.MassFailureMin = 2
	cfg.PreservationMax = 100 * time.Second
	return cfg
}

type leaseStep struct {
	op    string        // alive, failed, left, report-failed, report-left, tick, forget
	node  string        // for alive/failed/left/report/forget (comma-separated: several, one step each, events joined)
	d     time.Duration // tick: advance the clock by d; report: the reported age
	want  string        // events, space-separated: a:live>stale, reap:a, forget:a, preserve:on|off|capped
	state string        // optional: phases after the step, e.g. "a=stale b=live"
}

func (s leaseStep) String() string { return fmt.Sprintf("%s %s %v", s.op, s.node, s.d) }

func formatEvents(ev leaseEvents) string {
	var out []string
	for _, p := range ev.Phases {
		out = append(out, fmt.Sprintf("%s:%s>%s", p.Origin, p.From, p.To))
	}
	for _, r := range ev.Reap {
		out = append(out, "reap:"+r)
	}
	for _, f := range ev.Forget {
		out = append(out, "forget:"+f.Origin)
	}
	for _, p := range ev.Preservation {
		switch {
		case p.Active:
			out = append(out, "preserve:on")
		case p.Capped:
			out = append(out, "preserve:capped")
		default:
			out = append(out, "preserve:off")
		}
	}
	slices.Sort(out)
	return strings.Join(out, " ")
}

func sortedWords(s string) string {
	w := strings.Fields(s)
	slices.Sort(w)
	return strings.Join(w, " ")
}

func TestLeaseTable(t *testing.T) {
	const s = time.Second
	many := func(op string, n int) []leaseStep {
		var names []string
		for i := range n {
			names = append(names, fmt.Sprintf("n%d", i))
		}
		return []leaseStep{{op: op, node: strings.Join(names, ",")}}
	}
	cases := []struct {
		name  string
		setup []leaseStep // applied without checking events
		steps []leaseStep
	}{
		{name: "alive is live, repeated news changes nothing", steps: []leaseStep{
			{op: "alive", node: "a", want: "", state: "a=live"},
			{op: "alive", node: "a", want: "", state: "a=live"},
		}},
		{name: "failed: stale for the grace, expired, withdrawn at StaleMaxAge, reaped, forgotten", steps: []leaseStep{
			{op: "alive", node: "a"},
			{op: "alive", node: "b"},
			{op: "alive", node: "c"},
			{op: "alive", node: "d"},
			{op: "failed", node: "a", want: "a:live>stale", state: "a=stale"},
			{op: "tick", d: 9 * s, want: "", state: "a=stale"},
			{op: "tick", d: 1 * s, want: "a:stale>expired", state: "a=expired"},
			{op: "tick", d: 49 * s, want: "", state: "a=expired"},
			{op: "tick", d: 1 * s, want: "a:expired>withdrawn", state: "a=withdrawn"},
			{op: "tick", d: 60 * s, want: "reap:a", state: "a=withdrawn"},
			{op: "tick", d: 59 * s, want: ""},
			{op: "tick", d: 1 * s, want: "forget:a", state: "a=unknown"},
		}},
		{name: "back alive within grace and after expiry", steps: []leaseStep{
			{op: "alive", node: "a"},
			{op: "alive", node: "b"},
			{op: "alive", node: "c"},
			{op: "alive", node: "d"},
			{op: "failed", node: "a", want: "a:live>stale"},
			{op: "tick", d: 5 * s},
			{op: "alive", node: "a", want: "a:stale>live", state: "a=live"},
			{op: "tick", d: 100 * s, want: "", state: "a=live"},
			{op: "failed", node: "a", want: "a:live>stale"},
			{op: "tick", d: 20 * s, want: "a:stale>expired"},
			{op: "alive", node: "a", want: "a:expired>live"},
			{op: "tick", d: 1000 * s, want: "", state: "a=live"},
		}},
		{name: "left: withdrawn at once, reaped, forgotten", steps: []leaseStep{
			{op: "alive", node: "a"},
			{op: "left", node: "a", want: "a:live>withdrawn", state: "a=withdrawn"},
			{op: "tick", d: 119 * s, want: ""},
			{op: "tick", d: 1 * s, want: "reap:a"},
			{op: "tick", d: 60 * s, want: "forget:a", state: "a=unknown"},
		}},
		{name: "failed then left: the leave restarts the clock", steps: []leaseStep{
			{op: "alive", node: "a"},
			{op: "failed", node: "a", want: "a:live>stale"},
			{op: "tick", d: 100 * s, want: "a:stale>withdrawn"},
			{op: "left", node: "a", want: ""},
			{op: "tick", d: 119 * s, want: ""},
			{op: "tick", d: 1 * s, want: "reap:a"},
		}},
		{name: "reported by a peer: never fresh, expired until StaleMaxAge, forgotten at ReapAfter", steps: []leaseStep{
			{op: "report-failed", node: "a", d: 10 * s, want: "a:live>expired", state: "a=expired"},
			{op: "tick", d: 49 * s, want: ""},
			{op: "tick", d: 1 * s, want: "a:expired>withdrawn"},
			{op: "tick", d: 60 * s, want: "forget:a", state: "a=unknown"},
		}},
		{name: "reported left, then own news supersedes it", steps: []leaseStep{
			{op: "report-left", node: "a", d: 0, want: "a:live>withdrawn"},
			{op: "report-failed", node: "a", d: 0, want: ""}, // already known: ignored
			{op: "alive", node: "a", want: "a:withdrawn>live", state: "a=live"},
			{op: "tick", d: 1000 * s, want: "", state: "a=live"},
		}},
		{name: "reported news older than StaleMaxAge is withdrawn at once", steps: []leaseStep{
			{op: "report-failed", node: "a", d: 90 * s, want: "a:live>withdrawn"},
			{op: "tick", d: 30 * s, want: "forget:a"},
		}},
		{name: "mass failure engages self-preservation; expiry is held; recovery releases", setup: many("alive", 9), steps: []leaseStep{
			// 10 known (9 + self); 30% = 3 failures within the window.
			{op: "failed", node: "n0", want: "n0:live>stale"},
			{op: "tick", d: 20 * s, want: "n0:stale>expired"},
			{op: "failed", node: "n1", want: "n1:live>stale"},
			// The third failure within 30 s engages; n0 failed 20 s before it,
			// within the window: held stale again.
			{op: "failed", node: "n2", want: "n2:live>stale n0:expired>stale preserve:on", state: "n0=stale n1=stale n2=stale"},
			{op: "tick", d: 50 * s, want: "", state: "n0=stale n1=stale n2=stale"},
			// One back: 2 of 10 unreachable < 30%: released, the others expire.
			{op: "alive", node: "n2", want: "n2:stale>live n0:stale>withdrawn n1:stale>expired preserve:off", state: "n0=withdrawn n1=expired"},
		}},
		{name: "failures outside the window do not engage", setup: many("alive", 9), steps: []leaseStep{
			{op: "failed", node: "n0", want: "n0:live>stale"},
			{op: "tick", d: 31 * s, want: "n0:stale>expired"},
			{op: "failed", node: "n1", want: "n1:live>stale"},
			{op: "failed", node: "n2", want: "n2:live>stale", state: "n0=expired"},
		}},
		{name: "MassFailureMin: one failure of three is not a mass failure, two are", setup: many("alive", 2), steps: []leaseStep{
			{op: "failed", node: "n0", want: "n0:live>stale"},
			{op: "tick", d: 10 * s, want: "n0:stale>expired"},
			{op: "failed", node: "n1", want: "n1:live>stale n0:expired>stale preserve:on"},
		}},
		{name: "self-preservation is capped at PreservationMax", setup: many("alive", 4), steps: []leaseStep{
			{op: "failed", node: "n0", want: "n0:live>stale"},
			{op: "failed", node: "n1", want: "n1:live>stale preserve:on"},
			{op: "tick", d: 99 * s, want: ""},
			{op: "tick", d: 1 * s, want: "n0:stale>withdrawn n1:stale>withdrawn preserve:capped"},
		}},
		{name: "a failure while preserved is held past its grace; reaped origins leave the counts", setup: many("alive", 4), steps: []leaseStep{
			{op: "failed", node: "n0", want: "n0:live>stale"},
			{op: "failed", node: "n1", want: "n1:live>stale preserve:on"},
			{op: "tick", d: 40 * s},
			{op: "failed", node: "n2", want: "n2:live>stale"},
			{op: "tick", d: 20 * s, want: "", state: "n0=stale n1=stale n2=stale"},
			// n0 and n1 reach ReapAfter (1 unreachable of 3 known, not below
			// 30%): the cap releases.
			{op: "tick", d: 60 * s, want: "reap:n0 reap:n1 preserve:capped n0:stale>withdrawn n1:stale>withdrawn n2:stale>withdrawn"},
		}},
		{name: "forget drops at once", steps: []leaseStep{
			{op: "alive", node: "a"},
			{op: "failed", node: "a", want: "a:live>stale"},
			{op: "forget", node: "a", want: "forget:a", state: "a=unknown"},
			{op: "tick", d: 1000 * s, want: ""},
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			l := newLeases(leaseTestConfig())
			now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
			run := func(st leaseStep) string {
				var got []string
				for _, node := range strings.Split(st.node, ",") {
					var ev leaseEvents
					switch st.op {
					case "alive":
						ev, _ = l.set(now, node, memberAlive)
					case "failed":
						ev, _ = l.set(now, node, memberFailed)
					case "left":
						ev, _ = l.set(now, node, memberLeft)
					case "report-failed", "report-left":
						ev, _ = l.report(now, node, st.op == "report-left", now.Add(-st.d))
					case "forget":
						ev = l.forget(now, node)
					case "tick":
						now = now.Add(st.d)
						ev = l.tick(now)
					default:
						t.Fatalf("unknown op %q", st.op)
					}
					if e := formatEvents(ev); e != "" {
						got = append(got, e)
					}
				}
				return sortedWords(strings.Join(got, " "))
			}
			for _, st := range tc.setup {
				run(st)
			}
			for i, st := range tc.steps {
				if got, want := run(st), sortedWords(st.want); got != want {
					t.Fatalf("step %d (%v): events %q, want %q", i, st, got, want)
				}
				for _, kv := range strings.Fields(st.state) {
					name, want, _ := strings.Cut(kv, "=")
					got := "unknown"
					if m := l.members[name]; m != nil {
						got = m.phase.String()
					}
					if got != want {
						t.Fatalf("step %d (%v): %s is %s, want %s", i, st, name, got, want)
					}
				}
				if err := l.check(now); err != nil {
					t.Fatalf("step %d (%v): %v", i, st, err)
				}
			}
		})
	}
}

// check verifies the table against a naive recomputation at now: the counters,
// every phase, and the heap (each member queued exactly at its next deadline).
func (l *leases) check(now time.Time) error {
	alive, unreachable, recent, reported := 0, 0, 0, 0
	for name, m := range l.members {
		if m.name != name {
			return fmt.Errorf("member %q named %q", name, m.name)
		}
		age := now.Sub(m.since)
		switch {
		case m.state == memberAlive:
			alive++
		case m.state == memberFailed && age < l.cfg.ReapAfter:
			unreachable++
			if age < l.cfg.MassFailureWindow {
				recent++
			}
		}
		if m.reported {
			reported++
		}
		if p := l.phaseAt(m, now); p != m.phase {
			return fmt.Errorf("%s: phase %s, want %s", name, m.phase, p)
		}
		if _, ok := l.failed[name]; ok != (m.state == memberFailed && !m.reported) {
			return fmt.Errorf("%s: in failed set %v", name, ok)
		}
		if m.state != memberAlive && !m.at.After(now) {
			return fmt.Errorf("%s: deadline %v not after now %v", name, m.at, now)
		}
		if (m.hidx >= 0) != !m.at.IsZero() || m.hidx >= 0 && l.due[m.hidx] != m {
			return fmt.Errorf("%s: heap index %d, deadline %v", name, m.hidx, m.at)
		}
	}
	if len(l.failed) > len(l.members) || len(l.due) > len(l.members) {
		return fmt.Errorf("failed set %d / heap %d larger than %d members", len(l.failed), len(l.due), len(l.members))
	}
	if alive != l.alive || unreachable != l.unreachable || recent != l.recent || reported != l.reported {
		return fmt.Errorf("counters alive %d unreachable %d recent %d reported %d, want %d %d %d %d",
			l.alive, l.unreachable, l.recent, l.reported, alive, unreachable, recent, reported)
	}
	if p := l.preserve; p.Known != 1+alive+unreachable || p.Unreachable != unreachable {
		return fmt.Errorf("preservation %+v, want known %d unreachable %d", p, 1+alive+unreachable, unreachable)
	}
	return nil
}

// TestLeaseTableRandom drives the table with random news and time steps and
// checks it against the naive recomputation after every call.
func TestLeaseTableRandom(t *testing.T) {
	seed := time.Now().UnixNano()
	t.Logf("seed %d", seed)
	rnd := rand.New(rand.NewPCG(uint64(seed), 0))
	l := newLeases(leaseTestConfig())
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for i := range 20000 {
		node := fmt.Sprintf("n%d", rnd.IntN(30))
		switch r := rnd.IntN(10); {
		case r < 3:
			l.set(now, node, memberAlive)
		case r < 6:
			l.set(now, node, memberFailed)
		case r < 7:
			l.set(now, node, memberLeft)
		case r < 8:
			l.report(now, node, rnd.IntN(2) == 0, now.Add(-time.Duration(rnd.IntN(200))*time.Second))
		case r < 9 && rnd.IntN(10) == 0:
			l.forget(now, node)
		default:
			now = now.Add(time.Duration(rnd.IntN(20000)) * time.Millisecond)
			l.tick(now)
		}
		if err := l.check(now); err != nil {
			t.Fatalf("seed %d, step %d: %v", seed, i, err)
		}
	}
}
