package sim

import (
	"context"
	"fmt"
	"time"
)

// SkewStep sets the clock offset of the selected nodes: the whole clock is
// off by By, monotonic readings included (a host whose clock was wrong from
// boot). Best set before a node (re)starts; see ClockStep for a step of a
// running clock.
type SkewStep struct {
	Nodes []string      `yaml:"nodes"`
	By    time.Duration `yaml:"by"`
}

func (*SkewStep) Kind() string { return "skew" }

func (s *SkewStep) Validate() error {
	if s.By < -maxDuration || s.By > maxDuration {
		return fmt.Errorf("by %v", s.By)
	}
	return checkSelectors("nodes", s.Nodes, true, false)
}

func (s *SkewStep) run(_ context.Context, r *runner, i int) error {
	idx, err := r.pick(s.Nodes, r.cl.pool(stateLive, statePaused, stateCrashed))
	if err != nil {
		return err
	}
	for _, h := range idx {
		r.cl.host(h).skew.Store(int64(s.By))
	}
	r.record(i, "skew", fmt.Sprintf("%v by %v", r.cl.names(idx), s.By))
	return nil
}

// ClockStep steps the wall clock of the selected nodes by By, as NTP does
// when it sets a clock: wall readings (Time.Unix, epochs) jump, the
// monotonic clock (durations between readings, timers) does not. Steps add
// up.
type ClockStep struct {
	Nodes []string      `yaml:"nodes"`
	Step  time.Duration `yaml:"step"`
}

func (*ClockStep) Kind() string { return "clock" }

func (s *ClockStep) Validate() error {
	if s.Step < -maxDuration || s.Step > maxDuration || s.Step == 0 {
		return fmt.Errorf("step %v: want a non-zero duration within 24h", s.Step)
	}
	return checkSelectors("nodes", s.Nodes, true, false)
}

func (s *ClockStep) run(_ context.Context, r *runner, i int) error {
	idx, err := r.pick(s.Nodes, r.cl.pool(stateLive, statePaused, stateCrashed))
	if err != nil {
		return err
	}
	for _, h := range idx {
		r.cl.host(h).wallStep.Add(int64(s.Step))
	}
	r.record(i, "clock", fmt.Sprintf("%v wall clock stepped by %v", short(r.cl.names(idx)), s.Step))
	return nil
}
