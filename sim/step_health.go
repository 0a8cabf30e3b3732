package sim

import (
	"context"
	"fmt"
)

// HealthStep sets the health of the instances of Service (or only ID) at
// the selected nodes (drawn from the live holders).
type HealthStep struct {
	Nodes   []string `yaml:"nodes"`
	Service string   `yaml:"service"`
	ID      string   `yaml:"id"`
	Status  string   `yaml:"status"`
}

func (*HealthStep) Kind() string { return "health" }

func (s *HealthStep) Validate() error {
	if err := checkSelectors("nodes", s.Nodes, true, false); err != nil {
		return err
	}
	if err := checkServiceID(s.Service, s.ID, true); err != nil {
		return err
	}
	if !healths[s.Status] {
		return fmt.Errorf("status %q: want passing, warning, critical or maintenance", s.Status)
	}
	return nil
}

func (s *HealthStep) run(ctx context.Context, r *runner, i int) error {
	idx, err := r.pick(s.Nodes, r.holders(s.Service, s.ID))
	if err != nil {
		return err
	}
	r.record(i, "health", fmt.Sprintf("%s at %s → %s", s.Service, short(r.cl.names(idx)), s.Status))
	for _, h := range idx {
		hs := r.cl.host(h)
		for _, k := range r.ck.owned(hs.name, s.Service) {
			if s.ID != "" && k.id != s.ID {
				continue
			}
			if err := hs.current().SetHealth(ctx, k.id, s.Status); err != nil {
				return fmt.Errorf("health %s: %w", k, err)
			}
			r.ck.healthSet(k, s.Status, r.now())
		}
	}
	return nil
}
