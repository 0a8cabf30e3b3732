package sim

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
)

// A selector names a set of nodes in a scenario step:
//
//	n7            one node by name
//	n0-n49        a range of node indices, inclusive
//	all           every node of the step's pool
//	live, crashed, paused   the pool's nodes in that state
//	first K, first P%       the first K (or P percent, rounded up) of the pool by index
//	last K, last P%         the last ones
//	random K, random P%     K (or P percent, rounded up) drawn from the pool by the seed
//	... of live|crashed|paused   first/last/random restricted to the pool's nodes
//	                        in that state, e.g. "random 50% of crashed"
//	rest          (partition groups only) every node not in another group
//
// The pool is the set a step draws from: live nodes for most steps, crashed or
// live ones for restart, nodes holding the service for deregister and health,
// every started node for partitions and cuts.
type selKind int

const (
	selName selKind = iota
	selRange
	selAll
	selLive
	selCrashed
	selPaused
	selFirst
	selLast
	selRandom
	selRest
)

type selector struct {
	kind    selKind
	lo, hi  int       // selName (lo), selRange
	count   int       // selFirst/Last/Random with an absolute count
	percent float64   // selFirst/Last/Random with a percentage (0 if count)
	of      nodeState // selFirst/Last/Random: restrict the pool to this state (stateNone: no)
}

func parseNodeName(s string) (int, bool) {
	if len(s) < 2 || s[0] != 'n' || (s[1] == '0' && len(s) > 2) {
		return 0, false
	}
	i, err := strconv.Atoi(s[1:])
	if err != nil || i < 0 || i >= maxNodes {
		return 0, false
	}
	return i, true
}

// nodeName is the name of node index i.
func nodeName(i int) string { return "n" + strconv.Itoa(i) }

func parseSelector(raw string) (selector, error) {
	s := strings.TrimSpace(raw)
	switch s {
	case "all":
		return selector{kind: selAll}, nil
	case "live":
		return selector{kind: selLive}, nil
	case "crashed":
		return selector{kind: selCrashed}, nil
	case "paused":
		return selector{kind: selPaused}, nil
	case "rest":
		return selector{kind: selRest}, nil
	}
	if verb, arg, ok := strings.Cut(s, " "); ok {
		var k selKind
		switch verb {
		case "first":
			k = selFirst
		case "last":
			k = selLast
		case "random":
			k = selRandom
		default:
			return selector{}, fmt.Errorf("selector %q: unknown form", raw)
		}
		arg = strings.TrimSpace(arg)
		of := stateNone
		if a, st, ok := strings.Cut(arg, " of "); ok {
			switch strings.TrimSpace(st) {
			case "live":
				of = stateLive
			case "crashed":
				of = stateCrashed
			case "paused":
				of = statePaused
			default:
				return selector{}, fmt.Errorf("selector %q: want \"of live\", \"of crashed\" or \"of paused\"", raw)
			}
			arg = strings.TrimSpace(a)
		}
		if p, ok := strings.CutSuffix(arg, "%"); ok {
			f, err := strconv.ParseFloat(p, 64)
			if err != nil || !(f > 0 && f <= 100) {
				return selector{}, fmt.Errorf("selector %q: percent must be in (0,100]", raw)
			}
			return selector{kind: k, percent: f, of: of}, nil
		}
		n, err := strconv.Atoi(arg)
		if err != nil || n < 1 || n > maxNodes {
			return selector{}, fmt.Errorf("selector %q: count must be in [1,%d]", raw, maxNodes)
		}
		return selector{kind: k, count: n, of: of}, nil
	}
	if a, b, ok := strings.Cut(s, "-"); ok {
		lo, ok1 := parseNodeName(a)
		hi, ok2 := parseNodeName(b)
		if !ok1 || !ok2 || lo > hi {
			return selector{}, fmt.Errorf("selector %q: want nA-nB with A <= B", raw)
		}
		return selector{kind: selRange, lo: lo, hi: hi}, nil
	}
	if i, ok := parseNodeName(s); ok {
		return selector{kind: selName, lo: i}, nil
	}
	return selector{}, fmt.Errorf("selector %q: want a node name (n7), a range (n0-n9), all, live, crashed, paused, first/last/random K or P%%", raw)
}

// take returns how many of pool a count/percent selector picks.
func (s selector) take(pool int) int {
	if s.percent > 0 {
		return min(pool, int(math.Ceil(s.percent*float64(pool)/100-1e-9)))
	}
	return min(pool, s.count)
}

// resolve evaluates selectors against pool (node indices sorted ascending) and
// returns the union in pool order. state reports a node's state. r draws random
// picks; every draw is made here, in selector order, so a seed reproduces it.
func resolve(sels []string, pool []int, state func(int) nodeState, r *rand.Rand) ([]int, error) {
	chosen := map[int]bool{}
	for _, raw := range sels {
		s, err := parseSelector(raw)
		if err != nil {
			return nil, err
		}
		pool := pool
		if s.of != stateNone {
			var sub []int
			for _, i := range pool {
				if state(i) == s.of {
					sub = append(sub, i)
				}
			}
			pool = sub
		}
		switch s.kind {
		case selName:
			if !slices.Contains(pool, s.lo) {
				return nil, fmt.Errorf("node %s is not eligible here", nodeName(s.lo))
			}
			chosen[s.lo] = true
		case selRange:
			for _, i := range pool {
				if i >= s.lo && i <= s.hi {
					chosen[i] = true
				}
			}
		case selAll:
			for _, i := range pool {
				chosen[i] = true
			}
		case selLive, selCrashed, selPaused:
			want := map[selKind]nodeState{selLive: stateLive, selCrashed: stateCrashed, selPaused: statePaused}[s.kind]
			for _, i := range pool {
				if state(i) == want {
					chosen[i] = true
				}
			}
		case selFirst:
			for _, i := range pool[:s.take(len(pool))] {
				chosen[i] = true
			}
		case selLast:
			for _, i := range pool[len(pool)-s.take(len(pool)):] {
				chosen[i] = true
			}
		case selRandom:
			perm := slices.Clone(pool)
			r.Shuffle(len(perm), func(a, b int) { perm[a], perm[b] = perm[b], perm[a] })
			for _, i := range perm[:s.take(len(perm))] {
				chosen[i] = true
			}
		case selRest:
			return nil, fmt.Errorf("%q only in partition groups", raw)
		}
	}
	out := make([]int, 0, len(chosen))
	for _, i := range pool {
		if chosen[i] {
			out = append(out, i)
		}
	}
	return out, nil
}
