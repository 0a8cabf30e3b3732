package sim

import (
	"context"
	"errors"
	"fmt"
)

// SaveStep copies the data directory of each selected node aside under
// Name (a backup, or a VM snapshot); a live node is copied as it runs (a
// crash-consistent copy, like a snapshot of a running VM).
type SaveStep struct {
	Nodes []string `yaml:"nodes"`
	Name  string   `yaml:"name"`
}

func (*SaveStep) Kind() string { return "save" }

func (s *SaveStep) Validate() error {
	if !labelRE.MatchString(s.Name) {
		return fmt.Errorf("name %q: want [A-Za-z0-9._-], 1-64 chars", s.Name)
	}
	return checkSelectors("nodes", s.Nodes, true, false)
}

func (s *SaveStep) run(_ context.Context, r *runner, i int) error {
	idx, err := r.pick(s.Nodes, r.cl.pool(stateLive, statePaused, stateCrashed))
	if err != nil {
		return err
	}
	var total int64
	for _, h := range idx {
		n, err := r.cl.host(h).save(s.Name)
		if err != nil {
			return err
		}
		total += n
	}
	r.hl.addSaved(total)
	r.record(i, "save", fmt.Sprintf("%s as %q (%d bytes)", short(r.cl.names(idx)), s.Name, total))
	return nil
}

// RestoreStep restores each selected node's data directory from the copy
// saved under Name and restarts the node from it (the live ones crash
// first): the host was reverted to a backup or VM snapshot. Registrations
// made since the save are gone (removed, for G3); those in the copy are
// registered again.
type RestoreStep struct {
	Nodes []string `yaml:"nodes"`
	Name  string   `yaml:"name"`
}

func (*RestoreStep) Kind() string { return "restore" }

func (s *RestoreStep) Validate() error {
	if !labelRE.MatchString(s.Name) {
		return fmt.Errorf("name %q: want [A-Za-z0-9._-], 1-64 chars", s.Name)
	}
	return checkSelectors("nodes", s.Nodes, true, false)
}

func (s *RestoreStep) run(ctx context.Context, r *runner, i int) error {
	idx, err := r.pick(s.Nodes, r.cl.pool(stateLive, statePaused, stateCrashed))
	if err != nil {
		return err
	}
	for _, h := range idx {
		if !r.cl.host(h).hasSaved(s.Name) {
			return fmt.Errorf("%s has no copy saved as %q", nodeName(h), s.Name)
		}
	}
	r.record(i, "restore", fmt.Sprintf("%s from %q", short(r.cl.names(idx)), s.Name))
	for _, h := range idx {
		// The restored directory is an older state: the checker treats the
		// node as wiped (its registrations since are gone), then learns the
		// copy's registrations from the node itself once it runs.
		if err := r.restartHost(ctx, h, true, func(hs *host) error { return hs.restore(s.Name) }); err != nil {
			return err
		}
		if err := r.adoptRestored(ctx, h); err != nil {
			return err
		}
	}
	return nil
}

var errNoOwnView = errors.New("sim: restored node does not report its own registrations")
