package sim

import (
	"context"
	"fmt"
)

// BridgeStep makes the selected nodes bridges: they reach every partition
// group (and every group reaches them) while the groups still cannot reach
// each other — the non-transitive connectivity of a host with a leg in two
// networks. Cuts still apply. Heal (or a bridge step with Off) ends it.
type BridgeStep struct {
	Nodes []string `yaml:"nodes"`
	Off   bool     `yaml:"off"`
}

func (*BridgeStep) Kind() string { return "bridge" }

func (s *BridgeStep) Validate() error { return checkSelectors("nodes", s.Nodes, true, false) }

func (s *BridgeStep) run(_ context.Context, r *runner, i int) error {
	idx, err := r.pick(s.Nodes, r.cl.pool(stateLive, statePaused, stateCrashed))
	if err != nil {
		return err
	}
	r.trouble()
	for _, a := range r.cl.addrs(idx) {
		r.cl.net.Bridge(a, !s.Off)
	}
	r.record(i, "bridge", fmt.Sprintf("%s on=%v", short(r.cl.names(idx)), !s.Off))
	return nil
}
