package sim

import (
	"context"
	"fmt"
	"time"
)

// SlowStep makes the selected nodes slow: each node handles one inbound
// packet or stream write at a time, taking By for each, so bursts queue up
// (a CPU-starved or GC-bound host, not a slow link: its timers still fire on
// time while its inbox lags). By 0 makes them normal again.
type SlowStep struct {
	Nodes []string      `yaml:"nodes"`
	By    time.Duration `yaml:"by"`
}

func (*SlowStep) Kind() string { return "slow" }

func (s *SlowStep) Validate() error {
	if s.By < 0 || s.By > 10*time.Second {
		return fmt.Errorf("by %v not in [0,10s]", s.By)
	}
	return checkSelectors("nodes", s.Nodes, true, false)
}

func (s *SlowStep) run(_ context.Context, r *runner, i int) error {
	idx, err := r.pick(s.Nodes, r.cl.pool(stateLive, statePaused, stateCrashed))
	if err != nil {
		return err
	}
	for _, h := range idx {
		hs := r.cl.host(h)
		hs.slow.Store(int64(s.By))
		r.hl.setSlow(hs.name, s.By > 0, r.now())
		r.cl.net.SetSlow(hs.address(), s.By)
	}
	r.record(i, "slow", fmt.Sprintf("%s by %v per message", short(r.cl.names(idx)), s.By))
	return nil
}
