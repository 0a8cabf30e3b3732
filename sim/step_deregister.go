package sim

import (
	"context"
	"fmt"
)

// DeregisterStep removes the instances of Service (or only ID) at the
// selected nodes. Node selection draws from the live nodes that hold such
// instances.
type DeregisterStep struct {
	Nodes   []string `yaml:"nodes"`
	Service string   `yaml:"service"`
	ID      string   `yaml:"id"`
}

func (*DeregisterStep) Kind() string { return "deregister" }

func (s *DeregisterStep) Validate() error {
	if err := checkSelectors("nodes", s.Nodes, true, false); err != nil {
		return err
	}
	return checkServiceID(s.Service, s.ID, true)
}

func (s *DeregisterStep) run(ctx context.Context, r *runner, i int) error {
	idx, err := r.pick(s.Nodes, r.holders(s.Service, s.ID))
	if err != nil {
		return err
	}
	r.record(i, "deregister", fmt.Sprintf("%s at %s", s.Service, short(r.cl.names(idx))))
	for _, h := range idx {
		hs := r.cl.host(h)
		for _, k := range r.ck.owned(hs.name, s.Service) {
			if s.ID != "" && k.id != s.ID {
				continue
			}
			err := r.removal(func() error {
				if err := hs.current().Deregister(ctx, k.id); err != nil {
					return fmt.Errorf("deregister %s: %w", k, err)
				}
				r.ck.deregistered(k, r.now(), "deregister")
				return nil
			})
			if err != nil {
				return err
			}
		}
	}
	return nil
}
