package sim

import (
	"context"
	"fmt"
	"time"
)

// RestartStep restarts the selected nodes (crashing the live ones first):
// with the same data directory, or a wiped one (Wipe: a new epoch,
// registrations lost). With Every > 0 the nodes restart one at a time, Every
// apart (rolling). NewAddress starts each at a fresh address under the same
// name (a host that came back with another IP). Agent replaces the nodes'
// own agent configuration (over the scenario's).
type RestartStep struct {
	Nodes      []string       `yaml:"nodes"`
	Wipe       bool           `yaml:"wipe"`
	Every      time.Duration  `yaml:"every"`
	NewAddress bool           `yaml:"new_address"`
	Agent      *AgentSettings `yaml:"agent"`
}

func (*RestartStep) Kind() string { return "restart" }

func (s *RestartStep) Validate() error {
	if !validDuration(s.Every) {
		return fmt.Errorf("every %v", s.Every)
	}
	if s.Agent != nil {
		if err := s.Agent.Validate(); err != nil {
			return err
		}
	}
	return checkSelectors("nodes", s.Nodes, true, false)
}

func (s *RestartStep) shrink(_ func(int) int, dur func(time.Duration) time.Duration) Action {
	c := *s
	if c.Every > 0 {
		c.Every = dur(c.Every)
	}
	return &c
}

func (s *RestartStep) run(ctx context.Context, r *runner, i int) error {
	idx, err := r.pick(s.Nodes, r.cl.pool(stateLive, statePaused, stateCrashed))
	if err != nil {
		return err
	}
	r.record(i, "restart", fmt.Sprintf("%s wipe=%v every=%v new_address=%v", short(r.cl.names(idx)), s.Wipe, s.Every, s.NewAddress))
	for n, h := range idx {
		if n > 0 && s.Every > 0 {
			if err := sleep(ctx, s.Every); err != nil {
				return err
			}
		}
		if err := r.restartHost(ctx, h, s.Wipe, func(hs *host) error {
			if s.Agent != nil {
				hs.setAgent(s.Agent)
			}
			if s.NewAddress {
				r.cl.moveHost(h)
			}
			return nil
		}); err != nil {
			return err
		}
	}
	return nil
}

// restartHost crashes host h if it runs, wipes its data directory if wipe
// (recording its instances as removed), calls prepare, and starts it again.
func (r *runner) restartHost(ctx context.Context, h int, wipe bool, prepare func(*host) error) error {
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
		if wipe {
			if err := hs.wipe(); err != nil {
				return err
			}
			for _, k := range r.ck.owned(hs.name, "") {
				r.ck.deregistered(k, r.now(), "wipe")
			}
		}
		return prepare(hs)
	})
	if err != nil {
		return err
	}
	r.ck.recovered(hs.name, false, r.now()) // before it serves again
	r.trouble(h)
	r.restarts.Add(1)
	return r.startHost(ctx, h)
}
