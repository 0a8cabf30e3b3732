package sim

import (
	"context"
	"errors"
	"fmt"
	"strings"
)

// RegisterStep registers Count instances of Service at each selected live
// node, with IDs "<service>-<k>" (or ID when Count is 1).
type RegisterStep struct {
	Nodes   []string `yaml:"nodes"`
	Service string   `yaml:"service"`
	ID      string   `yaml:"id"`
	Count   int      `yaml:"count"`  // default 1
	Health  string   `yaml:"health"` // default passing
	Tags    []string `yaml:"tags"`
}

func (*RegisterStep) Kind() string { return "register" }

func (s *RegisterStep) Validate() error {
	if err := checkSelectors("nodes", s.Nodes, true, false); err != nil {
		return err
	}
	if err := checkServiceID(s.Service, s.ID, true); err != nil {
		return err
	}
	if s.Count < 0 || s.Count > maxInstances {
		return fmt.Errorf("count %d not in [0,%d]", s.Count, maxInstances)
	}
	if s.ID != "" && s.Count > 1 {
		return errors.New("id with count > 1")
	}
	if s.Health != "" && !healths[s.Health] {
		return fmt.Errorf("health %q: want passing, warning, critical or maintenance", s.Health)
	}
	if len(s.Tags) > 64 {
		return errors.New("more than 64 tags")
	}
	return nil
}

func (s *RegisterStep) run(ctx context.Context, r *runner, i int) error {
	idx, err := r.pick(s.Nodes, r.cl.pool(stateLive))
	if err != nil {
		return err
	}
	count := max(s.Count, 1)
	health := s.Health
	if health == "" {
		health = "passing"
	}
	r.record(i, "register", fmt.Sprintf("%s×%d at %s", s.Service, count, short(r.cl.names(idx))))
	for _, h := range idx {
		hs := r.cl.host(h)
		for k := range count {
			id := s.ID
			if id == "" {
				id = fmt.Sprintf("%s-%d", s.Service, k)
			}
			reg := Registration{
				ID: id, Service: s.Service, Address: strings.Split(hs.address(), ":")[0],
				Port: 8000 + k, Tags: s.Tags, Health: health,
			}
			if err := hs.current().Register(ctx, reg); err != nil {
				return fmt.Errorf("register %s at %s: %w", id, hs.name, err)
			}
			r.ck.registered(hs.name, reg, r.now())
		}
	}
	return nil
}
