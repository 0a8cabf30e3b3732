package sim

import (
	"context"
	"fmt"
	"time"
)

// FlapStep makes every link between a Nodes node and a With node flap (both
// directions): down at once for Down, then up for Up, and so on, until an
// unflap or heal step (or the end of the run).
type FlapStep struct {
	Nodes []string      `yaml:"nodes"`
	With  []string      `yaml:"with"`
	Up    time.Duration `yaml:"up"`
	Down  time.Duration `yaml:"down"`
}

func (*FlapStep) Kind() string { return "flap" }

func (f *FlapStep) Validate() error {
	if f.Up < time.Millisecond || f.Up > maxDuration || f.Down < time.Millisecond || f.Down > maxDuration {
		return fmt.Errorf("up %v and down %v must be in [1ms,24h]", f.Up, f.Down)
	}
	if err := checkSelectors("nodes", f.Nodes, true, false); err != nil {
		return err
	}
	return checkSelectors("with", f.With, true, false)
}

func (f *FlapStep) run(_ context.Context, r *runner, i int) error {
	a, b, err := r.pickPair(f.Nodes, f.With)
	if err != nil {
		return err
	}
	r.trouble()
	seen := map[[2]int]bool{}
	for _, x := range a {
		for _, y := range b {
			if x == y || seen[[2]int{x, y}] || seen[[2]int{y, x}] {
				continue
			}
			seen[[2]int{x, y}] = true
			r.flaps = append(r.flaps, r.cl.net.Flap(r.cl.host(x).address(), r.cl.host(y).address(), f.Up, f.Down))
		}
	}
	r.record(i, "flap", fmt.Sprintf("%s ↔ %s: %d links, up %v down %v", short(r.cl.names(a)), short(r.cl.names(b)), len(seen), f.Up, f.Down))
	return nil
}

// UnflapStep stops every flap (the links stay up).
type UnflapStep struct{}

func (*UnflapStep) Kind() string    { return "unflap" }
func (*UnflapStep) Validate() error { return nil }

func (*UnflapStep) run(_ context.Context, r *runner, i int) error {
	r.trouble()
	for _, stop := range r.flaps {
		stop()
	}
	r.record(i, "unflap", fmt.Sprintf("%d links", len(r.flaps)))
	r.flaps = nil
	return nil
}
