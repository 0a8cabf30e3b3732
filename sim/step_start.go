package sim

import (
	"context"
	"fmt"
	"time"
)

// StartStep starts Count new nodes (named n<i> with the next indices) and,
// unless NoWait, waits until every live node sees every live node alive.
// Agent adds agent configuration for these nodes (over the scenario's).
type StartStep struct {
	Count   int            `yaml:"count"`
	NoWait  bool           `yaml:"no_wait"`
	Timeout time.Duration  `yaml:"timeout"` // default 60s
	Agent   *AgentSettings `yaml:"agent"`
}

func (*StartStep) Kind() string { return "start" }

func (s *StartStep) Validate() error {
	if s.Count < 1 || s.Count > maxNodes {
		return fmt.Errorf("count %d not in [1,%d]", s.Count, maxNodes)
	}
	if !validDuration(s.Timeout) {
		return fmt.Errorf("timeout %v", s.Timeout)
	}
	if s.Agent != nil {
		return s.Agent.Validate()
	}
	return nil
}

func (s *StartStep) shrink(nodes func(int) int, _ func(time.Duration) time.Duration) Action {
	c := *s
	c.Count = nodes(s.Count)
	return &c
}

func (s *StartStep) run(ctx context.Context, r *runner, i int) error {
	idx, err := r.cl.addHosts(s.Count, s.Agent)
	if err != nil {
		return err
	}
	for _, h := range idx {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("interrupted after %d of %d nodes: %w", h-idx[0], len(idx), err)
		}
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
