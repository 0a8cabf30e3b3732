package sim

import (
	"context"
	"fmt"
	"time"
)

// StartStep starts Count new nodes (named n<i> with the next indices) and,
// unless NoWait, waits until every live node sees every live node alive.
// Agent adds agent configuration for these nodes (over the scenario's).
// Settle, after the nodes started, has every live node exchange member lists
// with the first live node (see runner.settle); the start of a scenario's
// Nodes always settles.
type StartStep struct {
	Count   int            `yaml:"count"`
	NoWait  bool           `yaml:"no_wait"`
	Timeout time.Duration  `yaml:"timeout"` // default 60s
	Agent   *AgentSettings `yaml:"agent"`
	Settle  bool           `yaml:"settle"`
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
		r.opts.Progress.setPhase(fmt.Sprintf("node %d/%d", h-idx[0]+1, len(idx)))
		r.progress()
	}
	r.record(i, "start", fmt.Sprintf("%d nodes (%s..%s)", len(idx), nodeName(idx[0]), nodeName(idx[len(idx)-1])))
	if s.Settle {
		if err := r.settle(ctx); err != nil {
			return err
		}
	}
	if s.NoWait {
		return nil
	}
	timeout := s.Timeout
	if timeout == 0 {
		timeout = 60 * time.Second
	}
	r.opts.Progress.setPhase("waiting for full membership")
	ok, detail, took, err := r.until(ctx, timeout, r.cl.membersComplete)
	r.opts.Progress.setPhase("")
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("membership incomplete after %v: %s", timeout, detail)
	}
	r.logf("membership complete after %v", took.Round(time.Millisecond))
	return nil
}

// settle has every live node but the hub, the first live node, join the hub
// again: one memberlist push/pull each, which hands the node the hub's member
// list and the hub the node's. The hub is a seed of every node started since
// it went live (Factory joins the first three live nodes), so it knows them
// all, and after one exchange per node every node does. Without it the
// members learn of each other only as memberlist gossips each join to every
// member, and with hundreds of nodes that takes tens of simulated seconds in
// which every agent's per-member work runs (a thousand nodes: minutes of CPU).
// It is what a real cluster's periodic push/pull does, sooner. A node whose
// exchange fails (the hub unreachable) is logged and learns by gossip.
func (r *runner) settle(ctx context.Context) error {
	live := r.cl.pool(stateLive)
	if len(live) < 2 {
		return nil
	}
	hub := r.cl.host(live[0])
	hubAddr := []string{hub.address()}
	t0 := time.Now()
	var joined, failed int
	for _, h := range live[1:] {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("interrupted while settling after %d of %d nodes: %w", joined+failed, len(live)-1, err)
		}
		j, ok := r.cl.host(h).current().(Joiner)
		if !ok {
			continue
		}
		if _, err := j.Join(ctx, hubAddr); err != nil {
			failed++
			r.logf("settle: %s: %v", nodeName(h), err)
		} else {
			joined++
		}
		r.opts.Progress.setPhase(fmt.Sprintf("settling %d/%d", joined+failed, len(live)-1))
		r.progress()
	}
	if joined+failed > 0 {
		r.logf("settled: %d nodes exchanged member lists with %s (%d failed) in %v", joined, hub.name, failed, time.Since(t0).Round(time.Millisecond))
	}
	return nil
}
