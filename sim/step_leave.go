package sim

import (
	"context"
	"fmt"
)

// LeaveStep makes the selected live nodes leave gracefully; they never
// restart, and their instances count as removed (G3).
type LeaveStep struct {
	Nodes []string `yaml:"nodes"`
}

func (*LeaveStep) Kind() string { return "leave" }

func (s *LeaveStep) Validate() error { return checkSelectors("nodes", s.Nodes, true, false) }

func (s *LeaveStep) run(ctx context.Context, r *runner, i int) error {
	idx, err := r.pick(s.Nodes, r.cl.pool(stateLive))
	if err != nil {
		return err
	}
	r.record(i, "leave", fmt.Sprint(r.cl.names(idx)))
	for _, h := range idx {
		keys := r.ck.owned(nodeName(h), "")
		err := r.removal(func() error {
			if err := r.cl.leave(ctx, h); err != nil {
				return err
			}
			for _, k := range keys {
				r.ck.deregistered(k, r.now(), "leave")
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}
