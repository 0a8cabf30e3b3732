package sim

import (
	"context"
	"errors"
	"fmt"
	"strings"
)

// PartitionStep splits the network into groups; nodes in different groups
// cannot talk. "rest" names every node not in another group. It replaces an
// earlier partition; cuts are kept.
type PartitionStep struct {
	Groups [][]string `yaml:"groups"`
}

func (*PartitionStep) Kind() string { return "partition" }

func (s *PartitionStep) Validate() error {
	if len(s.Groups) < 2 {
		return errors.New("at least two groups required")
	}
	rests := 0
	for gi, g := range s.Groups {
		if err := checkSelectors(fmt.Sprintf("group %d", gi), g, true, true); err != nil {
			return err
		}
		for _, x := range g {
			if strings.TrimSpace(x) == "rest" {
				rests++
			}
		}
	}
	if rests > 1 {
		return errors.New(`"rest" in more than one group`)
	}
	return nil
}

func (s *PartitionStep) run(_ context.Context, r *runner, i int) error {
	all := r.cl.pool(stateLive, statePaused, stateCrashed)
	groups := make([][]int, len(s.Groups))
	rest := -1
	used := map[int]bool{}
	for gi, g := range s.Groups {
		var sels []string
		for _, x := range g {
			if strings.TrimSpace(x) == "rest" {
				rest = gi
				continue
			}
			sels = append(sels, x)
		}
		var free []int
		for _, h := range all {
			if !used[h] {
				free = append(free, h)
			}
		}
		idx, err := r.pick(sels, free)
		if err != nil {
			return fmt.Errorf("group %d: %w", gi, err)
		}
		for _, h := range idx {
			used[h] = true
		}
		groups[gi] = append(groups[gi], idx...)
	}
	if rest >= 0 {
		for _, h := range all {
			if !used[h] {
				groups[rest] = append(groups[rest], h)
			}
		}
	}
	addrGroups := make([][]string, len(groups))
	var desc []string
	for gi, g := range groups {
		addrGroups[gi] = r.cl.addrs(g)
		desc = append(desc, short(r.cl.names(g)))
	}
	r.trouble()
	r.cl.net.Partition(addrGroups...)
	r.record(i, "partition", strings.Join(desc, " | "))

	// Each live observer loses the live nodes outside its group.
	live := r.cl.pool(stateLive)
	group := map[int]int{}
	for gi, g := range groups {
		for _, h := range g {
			group[h] = gi
		}
	}
	observers := map[string]loss{}
	for _, h := range live {
		lost := 0
		for _, o := range live {
			if group[o] != group[h] {
				lost++
			}
		}
		observers[nodeName(h)] = loss{lost, len(live)}
	}
	r.ck.lost(r.now(), false, nil, observers, len(live))
	return nil
}
