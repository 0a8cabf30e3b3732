package sim

import (
	"context"
)

// CrashStep kills the selected live or paused nodes at once, without a
// leave: the network drops everything first, then the agents stop.
type CrashStep struct {
	Nodes []string `yaml:"nodes"`
}

func (*CrashStep) Kind() string { return "crash" }

func (s *CrashStep) Validate() error { return checkSelectors("nodes", s.Nodes, true, false) }

func (s *CrashStep) run(_ context.Context, r *runner, i int) error {
	liveBefore := r.cl.pool(stateLive)
	idx, err := r.pick(s.Nodes, r.cl.pool(stateLive, statePaused))
	if err != nil {
		return err
	}
	r.record(i, "crash", short(r.cl.names(idx)))
	r.trouble(idx...)
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
	r.ck.lost(r.now(), true, r.cl.names(idx), observers, len(liveBefore))
	return r.removal(func() error {
		for _, h := range idx {
			if err := r.cl.crash(h); err != nil {
				return err
			}
		}
		return nil
	})
}
