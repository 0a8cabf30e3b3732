package probe

import (
	"sort"
	"time"
)

// State is a check's full state for display: its latest Result, the
// definition's type and schedule, and the consecutive-result counters behind
// the rise/fall thresholds.
type State struct {
	Result
	Type     Type
	Interval time.Duration // 0 for ttl
	TTL      time.Duration // ttl only
	// Successes and Failures count consecutive passing and non-passing
	// results (one of them is 0; a TTL update sets neither).
	Successes int
	Failures  int
}

// States returns the state of every check, sorted by check ID.
func (r *Runner) States() []State {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]State, 0, len(r.checks))
	for _, e := range r.checks {
		out = append(out, State{
			Result: e.resultLocked(e.state), Type: e.check.Type,
			Interval: e.check.Interval, TTL: e.check.TTL,
			Successes: e.successes, Failures: e.failures,
		})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].CheckID < out[j].CheckID })
	return out
}
