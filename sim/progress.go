package sim

import (
	"fmt"
	"sync/atomic"
	"time"
)

// Progress is a run's position, updated by Run and safe to read from any
// goroutine, also from outside a synctest bubble (where the run's clock is
// not the reader's): the reader sees simulated time as Run last stored it.
type Progress struct {
	elapsed atomic.Int64 // simulated ns since the start
	step    atomic.Int64 // index of the running step, -1 while starting
	steps   atomic.Int64
	live    atomic.Int64
	total   atomic.Int64
	kind    atomic.Pointer[string]
	phase   atomic.Pointer[string] // what the step is doing, "" if nothing to say
	fails   atomic.Int64           // invariant violations so far
}

// ProgressSnapshot is one reading of a Progress.
type ProgressSnapshot struct {
	Elapsed     time.Duration // simulated time since the start
	Step, Steps int           // running step (from 0; -1 while the first nodes start) and how many
	Kind        string        // the running step's kind
	Phase       string        // what it is doing ("starting 120/1000"), if it says
	Live, Nodes int           // live nodes, hosts created
	Violations  int           // invariant violations so far
}

// Snapshot reads p.
func (p *Progress) Snapshot() ProgressSnapshot {
	s := ProgressSnapshot{
		Elapsed: time.Duration(p.elapsed.Load()), Step: int(p.step.Load()), Steps: int(p.steps.Load()),
		Live: int(p.live.Load()), Nodes: int(p.total.Load()), Violations: int(p.fails.Load()),
	}
	if k := p.kind.Load(); k != nil {
		s.Kind = *k
	}
	if ph := p.phase.Load(); ph != nil {
		s.Phase = *ph
	}
	return s
}

// String is the progress line grapevine-sim shows.
func (s ProgressSnapshot) String() string {
	step := "starting"
	if s.Step >= 0 {
		step = fmt.Sprintf("step %d/%d %s", s.Step+1, s.Steps, s.Kind)
	}
	if s.Phase != "" {
		step += " (" + s.Phase + ")"
	}
	return fmt.Sprintf("simulated %v, %s, %d/%d nodes live, %d violations",
		s.Elapsed.Truncate(100*time.Millisecond), step, s.Live, s.Nodes, s.Violations)
}

func (p *Progress) setStep(i int, kind string) {
	if p == nil {
		return
	}
	p.step.Store(int64(i))
	p.kind.Store(&kind)
	p.phase.Store(nil)
}

// setPhase says what the running step is doing ("" for nothing).
func (p *Progress) setPhase(phase string) {
	if p == nil {
		return
	}
	if phase == "" {
		p.phase.Store(nil)
		return
	}
	p.phase.Store(&phase)
}

func (p *Progress) setSteps(n int) {
	if p != nil {
		p.steps.Store(int64(n))
	}
}

func (p *Progress) update(elapsed time.Duration, live, total, fails int) {
	if p == nil {
		return
	}
	p.elapsed.Store(int64(elapsed))
	p.live.Store(int64(live))
	p.total.Store(int64(total))
	p.fails.Store(int64(fails))
}
