package sim

import (
	"context"
	"fmt"
)

// CutStep cuts traffic from every From node to every To node (one way), or
// both ways with Both. Heal undoes it.
type CutStep struct {
	From []string `yaml:"from"`
	To   []string `yaml:"to"`
	Both bool     `yaml:"both"`
}

func (*CutStep) Kind() string { return "cut" }

func (s *CutStep) Validate() error {
	if err := checkSelectors("from", s.From, true, false); err != nil {
		return err
	}
	return checkSelectors("to", s.To, true, false)
}

func (s *CutStep) run(_ context.Context, r *runner, i int) error {
	from, to, err := r.pickPair(s.From, s.To)
	if err != nil {
		return err
	}
	for _, a := range r.cl.addrs(from) {
		for _, b := range r.cl.addrs(to) {
			if a == b {
				continue
			}
			if s.Both {
				r.cl.net.CutLink(a, b)
			} else {
				r.cl.net.Cut(a, b)
			}
		}
	}
	r.trouble()
	arrow := "→"
	if s.Both {
		arrow = "↔"
	}
	r.record(i, "cut", fmt.Sprintf("%s %s %s", short(r.cl.names(from)), arrow, short(r.cl.names(to))))
	return nil
}
