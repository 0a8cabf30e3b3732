package sim

import (
	"context"
	"errors"
	"fmt"

	"github.com/grapevine-sd/grapevine/sim/simnet"
)

// LinkStep changes links: the default link when From and To are empty, else
// the directed links From → To (and back with Both). Reset first restores the
// scenario's default link and clears per-link settings. Packet and stream
// (TCP) settings both.
type LinkStep struct {
	Link  `yaml:",inline"`
	From  []string `yaml:"from"`
	To    []string `yaml:"to"`
	Both  bool     `yaml:"both"`
	Reset bool     `yaml:"reset"`
}

func (*LinkStep) Kind() string { return "link" }

func (s *LinkStep) Validate() error {
	if err := s.Link.validate(); err != nil {
		return err
	}
	if (len(s.From) == 0) != (len(s.To) == 0) {
		return errors.New("from and to go together")
	}
	if err := checkSelectors("from", s.From, false, false); err != nil {
		return err
	}
	return checkSelectors("to", s.To, false, false)
}

func (s *LinkStep) run(_ context.Context, r *runner, i int) error {
	r.trouble()
	if s.Reset {
		for l := range r.links {
			r.cl.net.ClearLink(l[0], l[1])
		}
		clear(r.links)
		r.linkDefault = applyLink(simnet.DefaultConfig().DefaultLink, r.sc.Link)
		if err := r.cl.net.SetDefaultLink(r.linkDefault); err != nil {
			return err
		}
	}
	if len(s.From) == 0 {
		r.linkDefault = applyLink(r.linkDefault, s.Link)
		if err := r.cl.net.SetDefaultLink(r.linkDefault); err != nil {
			return err
		}
		r.record(i, "link", fmt.Sprintf("default %v", r.linkDefault))
		return nil
	}
	from, to, err := r.pickPair(s.From, s.To)
	if err != nil {
		return err
	}
	lc := applyLink(r.linkDefault, s.Link)
	set := func(a, b string) error {
		r.links[[2]string{a, b}] = true
		return r.cl.net.SetLink(a, b, lc)
	}
	for _, a := range r.cl.addrs(from) {
		for _, b := range r.cl.addrs(to) {
			if a == b {
				continue
			}
			if err := set(a, b); err != nil {
				return err
			}
			if s.Both {
				if err := set(b, a); err != nil {
					return err
				}
			}
		}
	}
	r.record(i, "link", fmt.Sprintf("%s → %s %v", short(r.cl.names(from)), short(r.cl.names(to)), lc))
	return nil
}

// applyLink returns lc with the fields l sets.
func applyLink(lc simnet.LinkConfig, l Link) simnet.LinkConfig {
	set := func(dst *float64, src *float64) {
		if src != nil {
			*dst = *src
		}
	}
	if l.Latency != nil {
		lc.Latency = *l.Latency
	}
	if l.Jitter != nil {
		lc.Jitter = *l.Jitter
	}
	if l.StreamDelay != nil {
		lc.StreamDelay = *l.StreamDelay
	}
	set(&lc.Loss, l.Loss)
	set(&lc.Duplicate, l.Duplicate)
	set(&lc.StreamLoss, l.StreamLoss)
	set(&lc.StreamReset, l.StreamReset)
	switch l.Distribution {
	case "uniform":
		lc.Distribution = simnet.Uniform
	case "fixed":
		lc.Distribution = simnet.Fixed
	case "long_tail":
		lc.Distribution = simnet.LongTail
	}
	return lc
}
