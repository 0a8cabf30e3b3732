package gossip

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"testing"

	"github.com/grapevine-sd/grapevine/crdt"
)

// names returns n0 … n(n-1).
func names(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("n%d", i)
	}
	return out
}

// treeRun delivers one change on the tree salt from origin through every
// node's relayTargets, each node seeing the members in view(node) (all of
// them when view is nil) and dead nodes receiving without passing on. It
// returns how often each node received the change, the hop at which it first
// did, and the most messages one node sent.
func treeRun(all []string, origin string, salt uint64, dead map[string]bool, view func(string) []string) (got map[string]int, hops map[string]int, maxSent int) {
	return treeRunFrom(all, origin, salt, nil, dead, view)
}

// treeRunFrom is treeRun with the root's targets given (nil: computed
// without avoiding anyone).
func treeRunFrom(all []string, origin string, salt uint64, rootTargets []relayTarget, dead map[string]bool, view func(string) []string) (got map[string]int, hops map[string]int, maxSent int) {
	got, hops = map[string]int{}, map[string]int{}
	type msg struct {
		to, from string
		limit    uint64
		hop      int
	}
	cands := func(self, from string) []string {
		v := all
		if view != nil {
			v = view(self)
		}
		var out []string
		for _, m := range v {
			if m != self && m != from && m != origin {
				out = append(out, m)
			}
		}
		return out
	}
	if rootTargets == nil {
		rootTargets = relayTargets(cands(origin, ""), origin, salt, relayKey(salt, origin), true, nil)
	}
	var q []msg
	for _, t := range rootTargets {
		q = append(q, msg{t.name, origin, t.limit, 1})
	}
	maxSent = len(q)
	for len(q) > 0 {
		m := q[0]
		q = q[1:]
		got[m.to]++
		if _, ok := hops[m.to]; !ok {
			hops[m.to] = m.hop
		}
		if dead[m.to] {
			continue
		}
		ts := relayTargets(cands(m.to, m.from), m.to, salt, m.limit, false, nil)
		maxSent = max(maxSent, len(ts))
		for _, t := range ts {
			q = append(q, msg{t.name, m.to, t.limit, m.hop + 1})
		}
	}
	return got, hops, maxSent
}

// Every member receives a change exactly once per tree, within two hops, and
// no node sends more than about √N copies, at every size.
func TestRelayTreeReachesEachMemberOnce(t *testing.T) {
	for _, n := range []int{1, 2, 3, 4, 10, 30, 100, 1000} {
		for salt := range uint64(20) {
			all := names(n)
			got, hops, maxSent := treeRun(all, "n0", salt*0x9e3779b97f4a7c15, nil, nil)
			if len(got) != n-1 {
				t.Fatalf("n=%d salt=%d: %d members reached, want %d", n, salt, len(got), n-1)
			}
			for name, c := range got {
				if c != 1 || hops[name] > 2 {
					t.Fatalf("n=%d salt=%d: %s received %d times, first at hop %d; want once within 2", n, salt, name, c, hops[name])
				}
			}
			if bound := int(math.Ceil(math.Sqrt(float64(n)))) + 1; maxSent > bound {
				t.Fatalf("n=%d salt=%d: a node sent %d, want <= %d", n, salt, maxSent, bound)
			}
		}
	}
}

// A member the origin does not know yet (it just joined) is still reached:
// the relay whose arc its key falls in knows it.
func TestRelayReachesMemberUnknownToOrigin(t *testing.T) {
	all := names(40)
	for salt := range uint64(20) {
		view := func(self string) []string {
			if self == "n0" {
				return all[:39] // the origin lacks n39
			}
			return all
		}
		got, _, _ := treeRun(all, "n0", salt+1, nil, view)
		if got["n39"] != 1 {
			t.Fatalf("salt %d: the member unknown to the origin received %d copies, want 1", salt, got["n39"])
		}
	}
}

// A dead relay (not yet detected) loses its arc on its tree; the other tree
// (another salt, and relays chosen among the members that are not relays of
// the first) reaches those members: no live member misses both copies.
func TestRelayTwoTreesCoverADeadRelay(t *testing.T) {
	for _, n := range []int{3, 5, 10, 30, 100} {
		all := names(n)
		one := 0
		for trial := range 200 {
			dead := map[string]bool{all[1+trial%(n-1)]: true}
			trees := rootTrees(all[1:], "n0")
			if len(trees) != relayTrees {
				t.Fatalf("%d trees, want %d", len(trees), relayTrees)
			}
			missed := map[string]int{}
			for _, tr := range trees {
				got, hops, _ := treeRunFrom(all, "n0", tr.salt, tr.targets, dead, nil)
				for _, name := range all[1:] {
					if got[name] != 1 && !dead[name] {
						missed[name]++
					}
					if hops[name] > 2 {
						t.Fatalf("n=%d: %s first reached at hop %d", n, name, hops[name])
					}
				}
			}
			for name, m := range missed {
				one++
				if m == relayTrees {
					t.Fatalf("n=%d trial %d: %s missed every tree with %v dead", n, trial, name, dead)
				}
			}
		}
		if n >= 10 && one == 0 {
			t.Fatalf("n=%d: the dead node was never a relay: the test shows nothing", n)
		}
	}
}

// Keys spread: names that differ in one character are not neighbours on
// every tree, and the order changes with the salt.
func TestRelayKeySpread(t *testing.T) {
	all := names(50)
	order := func(salt uint64) []string {
		s := slices.Clone(all)
		slices.SortFunc(s, func(a, b string) int {
			ka, kb := relayKey(salt, a), relayKey(salt, b)
			switch {
			case ka < kb:
				return -1
			case ka > kb:
				return 1
			}
			return 0
		})
		return s
	}
	o1, o2 := order(1), order(2)
	if slices.Equal(o1, o2) {
		t.Fatal("two salts give the same ring order")
	}
	same := 0
	for i := range o1 {
		if o1[i] == o2[i] {
			same++
		}
	}
	if same > 10 {
		t.Fatalf("%d of 50 positions equal under two salts", same)
	}
	// Every member must place every other on the same ring, whatever its
	// version: the key is part of the wire protocol and must not change.
	if got, want := relayKey(7, "n1"), uint64(0xbd6cf26dbf889dc4); got != want {
		t.Fatalf("relayKey(7, n1) = %#x, want %#x", got, want)
	}
}

func TestRelayedPassesEachTreeOnce(t *testing.T) {
	var r relayed
	if !r.pass(5, "o", 1, 1) || r.pass(5, "o", 1, 1) {
		t.Fatal("pass(5) twice: want true, then false")
	}
	for s := uint64(100); s < 100+relayRemembered; s++ {
		r.pass(s, "o", 1, 1) // the same change on many trees
	}
	if !r.pass(5, "o", 1, 1) {
		t.Fatal("salt 5 still remembered after relayRemembered newer ones")
	}
	if r.pass(100+relayRemembered-1, "o", 1, 1) {
		t.Fatal("a recent salt was forgotten")
	}
	if len(r.set) > relayRemembered {
		t.Fatalf("remembers %d salts, bound %d", len(r.set), relayRemembered)
	}
	// An older change of the origin is not passed on, on any new tree.
	if !r.pass(1<<40, "o", 1, 7) {
		t.Fatal("a newer change refused")
	}
	if !r.pass(1<<40+1, "o", 1, 7) {
		t.Fatal("the same change on its second tree refused")
	}
	for i, c := range []struct{ epoch, to uint64 }{{1, 6}, {1, 1}} {
		if r.pass(1<<41+uint64(i), "o", c.epoch, c.to) {
			t.Errorf("an older change (%d, %d) passed on after (1, 7)", c.epoch, c.to)
		}
	}
	if !r.pass(1<<42, "o", 2, 1) || !r.pass(1<<42+1, "other", 1, 1) {
		t.Error("a newer epoch or another origin refused")
	}
}

func TestRelayCodec(t *testing.T) {
	d := sampleDelta()
	f, err := encodeRelay("n1", 42, 0, d)
	if err != nil {
		t.Fatal(err)
	}
	for _, limit := range []uint64{0, 1, math.MaxUint64, 0xdeadbeef} {
		m, err := decodeRelay(f.withLimit(limit))
		if err != nil {
			t.Fatalf("limit %x: %v", limit, err)
		}
		if m.From != "n1" || m.Salt != 42 || m.Limit != limit || m.Delta.Origin != d.Origin || len(m.Delta.Entries) != len(d.Entries) {
			t.Fatalf("limit %x: got %+v", limit, m)
		}
	}
	bad := [][]byte{
		{byte(msgRelay), ProtocolVersion},
		{byte(msgRelay), ProtocolVersion, 0x94, 0xa0, 0x01, 0x02, 0x90},
		{byte(msgRelay), 2, 0x94},
		{byte(msgRelay), ProtocolVersion, 0xdd, 0xff, 0xff, 0xff, 0xff},
		must(encodePush("n1", d)),
	}
	for i, b := range bad {
		if _, err := decodeRelay(b); !errors.Is(err, ErrBadMessage) {
			t.Errorf("bad %d: err %v, want ErrBadMessage", i, err)
		}
	}
	// An invalid delta inside is refused.
	f, _ = encodeRelay("n1", 1, 2, crdt.Delta{Origin: "o", Epoch: 1, From: 3, To: 2})
	if _, err := decodeRelay(f.msg); !errors.Is(err, ErrBadMessage) {
		t.Errorf("invalid delta: err %v, want ErrBadMessage", err)
	}
}

// A relay hands relayTargets only the members relayWithin keeps: the targets
// must be the same as from the whole member list, for every limit a relay can
// get (a target's limit from the root, and the whole ring).
func TestRelayWithinKeepsEveryTarget(t *testing.T) {
	for _, size := range []int{1, 2, 5, 40, 150} {
		members := names(size)
		for k := range 10 {
			salt := relayKey(uint64(k), "salt") // any spread of salts
			root := members[k%size]
			limits := []uint64{relayKey(salt, root)}
			for _, tg := range relayTargets(members, root, salt, relayKey(salt, root), true, nil) {
				limits = append(limits, tg.limit)
			}
			for _, self := range members {
				for _, limit := range limits {
					want := relayTargets(members, self, salt, limit, false, nil)
					var kept []string
					keep := relayWithin(self, salt, limit)
					for _, m := range members {
						if keep(m) {
							kept = append(kept, m)
						}
					}
					if got := relayTargets(kept, self, salt, limit, false, nil); !slices.Equal(got, want) {
						t.Fatalf("%d members, self %s, limit %x: targets %v from the kept members, want %v", size, self, limit, got, want)
					}
				}
			}
		}
	}
}

// The member names relayCands walks follow joins, updates and departures.
func TestRelayCandsFollowMembers(t *testing.T) {
	n := &Node{members: map[string]Member{}}
	n.cfg.Name = "self"
	set := func(name string) { n.setMember(name, &Member{Name: name, Meta: []byte(name)}) }
	for _, name := range []string{"self", "a", "b", "c", "d"} {
		set(name)
	}
	set("b") // an update, not a second b
	n.setMember("c", nil)
	n.setMember("x", nil) // never a member
	set("e")
	n.setMember("self", nil)
	set("self")
	got := n.relayCands("a", "e", nil)
	slices.Sort(got)
	if want := []string{"b", "d"}; !slices.Equal(got, want) {
		t.Fatalf("relayCands from a of e's change: %v, want %v", got, want)
	}
	if got := n.relayCands("", "", func(name string) bool { return name != "d" }); len(got) != 3 {
		t.Fatalf("relayCands keeping all but d: %v, want a, b, e", got)
	}
	if len(n.names) != len(n.members) {
		t.Fatalf("names %v, members %d", n.names, len(n.members))
	}
}
