package crdt

import (
	"fmt"
	"maps"
	"slices"
	"testing"

	"pgregory.net/rapid"
)

// The properties below drive a few origins through random puts, deletes,
// compactions and restarts, deliver their deltas to replicas lost, duplicated and
// reordered, interleave anti-entropy with lost chunks, and check the laws.
// rapid prints the seed of a failing case; rerun it with -rapid.seed.

var keys = []string{"a", "b", "c", "d", "e"}

// content is the comparable live content of a replica: origin/key → seq:value.
func content(s *State) map[string]string {
	m := map[string]string{}
	for origin, e := range s.All() {
		m[origin+"/"+e.Key] = fmt.Sprintf("%d@%d:%s", s.Position(origin).Epoch, e.Seq, e.Value)
	}
	return m
}

// world is a set of origins plus the log of every delta they produced.
type world struct {
	origins []*State
	epochs  []uint64
	sent    []Delta
}

func newWorld(n int) *world {
	w := &world{}
	for i := range n {
		w.origins = append(w.origins, New(fmt.Sprintf("o%d", i), 1))
		w.epochs = append(w.epochs, 1)
	}
	return w
}

// step makes one random change at a random origin and logs its delta(s).
func (w *world) step(t *rapid.T) {
	i := rapid.IntRange(0, len(w.origins)-1).Draw(t, "origin")
	o := w.origins[i]
	switch rapid.IntRange(0, 9).Draw(t, "op") {
	case 0, 1, 2, 3, 4:
		k := rapid.SampledFrom(keys).Draw(t, "key")
		v := rapid.StringMatching(`[a-z]{0,3}`).Draw(t, "value")
		w.sent = append(w.sent, o.Put(k, []byte(v)))
	case 5, 6, 7:
		if d, ok := o.Delete(rapid.SampledFrom(keys).Draw(t, "key")); ok {
			w.sent = append(w.sent, d)
		}
	case 8:
		o.Compact(o.Self(), rapid.Uint64Range(0, o.Position(o.Self()).Applied).Draw(t, "upTo"))
	case 9:
		if rapid.IntRange(0, 3).Draw(t, "restart") == 0 {
			// A restart: a new epoch that re-publishes what survived (as the
			// catalog does from its data directory), or a wiped data directory.
			w.epochs[i]++
			n := New(o.Self(), w.epochs[i])
			w.sent = append(w.sent, n.DeltaSince(nil, 1<<20)...) // the announcement
			if rapid.Bool().Draw(t, "keep") {
				for e := range o.Entries(o.Self()) {
					w.sent = append(w.sent, n.Put(e.Key, e.Value))
				}
			}
			w.origins[i] = n
		}
	}
}

// truth is the union of every origin's own current state.
func (w *world) truth() map[string]string { return content(w.truthState()) }

func (w *world) truthHash() uint64 { return w.truthState().Hash() }

// truthState holds exactly each origin's own entries.
func (w *world) truthState() *State {
	t := New("truth", 1)
	for _, o := range w.origins {
		for _, d := range o.DeltaSinceOrigin(o.Self(), Position{}, 1<<20) {
			if _, err := t.Merge(d); err != nil {
				panic(err)
			}
		}
	}
	return t
}

// version is a key's latest change as the log shows it.
type version struct {
	seq     uint64
	deleted bool
}

// latest maps origin/epoch/key to the seq of the key's latest change, from the log.
func (w *world) latest() map[string]version {
	h := map[string]version{}
	for _, d := range w.sent {
		for _, e := range d.Entries {
			id := fmt.Sprintf("%s/%d/%s", d.Origin, d.Epoch, e.Key)
			if e.Seq > h[id].seq {
				h[id] = version{seq: e.Seq, deleted: e.Deleted}
			}
		}
	}
	return h
}

// checkPrefix fails if a replica's contiguous prefix (applied) covers the latest
// change of a key while the replica holds an older, differently visible version: whatever else
// is lost or late, a covered latest change must be held. (An older change can be
// covered without being held: it was superseded, and the replica knows that.)
func (w *world) checkPrefix(t *rapid.T, s *State) {
	h := w.latest()
	for origin, v := range s.Origins() {
		if origin == s.Self() {
			continue
		}
		for _, e := range s.origins[origin].entries.Entries() {
			k, r := e.Key, e.Val
			last := h[fmt.Sprintf("%s/%d/%s", origin, v.Epoch, k)]
			if r.seq < last.seq && last.seq <= v.Applied && !(r.deleted() && last.deleted) {
				t.Fatalf("%s holds %s/%s@%d (deleted %v) with applied %d, but its latest change is seq %d",
					s.Self(), origin, k, r.seq, r.deleted(), v.Applied, last.seq)
			}
		}
	}
}

// monotonic remembers, per replica, the highest version seen for each key within
// an epoch and fails if it ever goes backward (no resurrection, no regression).
type monotonic map[string]record

func (m monotonic) check(t *rapid.T, s *State) {
	for origin, v := range s.Origins() {
		for _, e := range s.origins[origin].entries.Entries() {
			k, r := e.Key, e.Val
			id := fmt.Sprintf("%s/%d/%s", origin, v.Epoch, k)
			if prev, ok := m[id]; ok && newer(prev.seq, prev.deleted(), r) {
				t.Fatalf("%s: %s went back from seq %d (deleted %v) to %d (deleted %v)",
					s.Self(), id, prev.seq, prev.deleted(), r.seq, r.deleted())
			}
			m[id] = r
		}
	}
}

// exchange sends what b lacks from a, dropping chunks with probability ~1/drop.
func exchange(t *rapid.T, a, b *State, drop int) {
	budget := rapid.IntRange(1, 400).Draw(t, "budget")
	for _, d := range a.DeltaSince(b.Digest(), budget) {
		if drop > 0 && rapid.IntRange(0, drop).Draw(t, "lose") == 0 {
			continue
		}
		if _, err := b.Merge(d); err != nil {
			t.Fatalf("merge of %+v: %v", d, err)
		}
	}
}

// repair runs lossless anti-entropy between all pairs until nothing changes.
func repair(t *rapid.T, states []*State) {
	for round := 0; ; round++ {
		if round > 10 {
			t.Fatalf("anti-entropy did not settle in 10 rounds")
		}
		moved := false
		for _, a := range states {
			for _, b := range states {
				if a != b && a.Lacks(b.Digest()) {
					moved = true
					for _, d := range a.DeltaSince(b.Digest(), 200) {
						if _, err := b.Merge(d); err != nil {
							t.Fatal(err)
						}
					}
				}
			}
		}
		if !moved {
			return
		}
	}
}

// TestPropertyConvergence: deltas delivered in any order, lost, duplicated and
// late, with compaction anywhere and origin restarts, plus lossy anti-entropy;
// then lossless repair leaves every replica equal to the origins' truth, with
// the same hash, and no key's version ever went backward on the way.
func TestPropertyConvergence(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		w := newWorld(rapid.IntRange(1, 3).Draw(t, "origins"))
		reps := []*State{New("r0", 1), New("r1", 1), New("r2", 1)}
		mono := []monotonic{{}, {}, {}}
		steps := rapid.IntRange(0, 60).Draw(t, "steps")
		for range steps {
			w.step(t)
			// Deliver some queued deltas: any earlier one, to any replica.
			for range rapid.IntRange(0, 3).Draw(t, "deliveries") {
				if len(w.sent) == 0 {
					break
				}
				d := w.sent[rapid.IntRange(0, len(w.sent)-1).Draw(t, "which")]
				r := rapid.IntRange(0, len(reps)-1).Draw(t, "to")
				if _, err := reps[r].Merge(d); err != nil {
					t.Fatal(err)
				}
				mono[r].check(t, reps[r])
				w.checkPrefix(t, reps[r])
			}
			switch rapid.IntRange(0, 5).Draw(t, "extra") {
			case 0: // lossy anti-entropy from an origin or a replica
				from := rapid.IntRange(0, len(w.origins)+len(reps)-1).Draw(t, "from")
				to := rapid.IntRange(0, len(reps)-1).Draw(t, "to")
				src := reps[to]
				if from < len(w.origins) {
					src = w.origins[from]
				} else if from-len(w.origins) != to {
					src = reps[from-len(w.origins)]
				}
				if src != reps[to] {
					exchange(t, src, reps[to], 3)
					mono[to].check(t, reps[to])
					w.checkPrefix(t, reps[to])
				}
			case 1: // a replica collects tombstones
				r := rapid.IntRange(0, len(reps)-1).Draw(t, "gc")
				for name, v := range reps[r].Origins() {
					reps[r].Compact(name, v.Applied)
				}
				w.checkPrefix(t, reps[r])
			}
		}
		all := append(slices.Clone(w.origins), reps...)
		repair(t, all)
		want := w.truth()
		for i, r := range reps {
			mono[i].check(t, r)
			got := content(r)
			delete(got, r.Self()+"/") // replicas own nothing
			if !maps.Equal(got, want) {
				t.Fatalf("%s content\n got %v\nwant %v", r.Self(), got, want)
			}
			if r.Hash() != w.truthHash() {
				t.Fatalf("%s hash %x, want %x", r.Self(), r.Hash(), w.truthHash())
			}
		}
	})
}

// replicaFrom builds a replica that has merged a random subset of the log, in a
// random order, with duplicates.
func replicaFrom(t *rapid.T, name string, log []Delta) *State {
	s := New(name, 1)
	if len(log) == 0 {
		return s
	}
	for range rapid.IntRange(0, 2*len(log)).Draw(t, name+"-n") {
		d := log[rapid.IntRange(0, len(log)-1).Draw(t, name+"-d")]
		if _, err := s.Merge(d); err != nil {
			t.Fatal(err)
		}
	}
	return s
}

// join merges everything b holds into a: b's full state sent as to a peer that
// knows nothing, whatever the budget.
func join(t *rapid.T, a, b *State) {
	for _, d := range b.DeltaSince(nil, rapid.IntRange(1, 300).Draw(t, "jb")) {
		if _, err := a.Merge(d); err != nil {
			t.Fatal(err)
		}
	}
}

// clone copies a replica by joining it into an empty one; the copy holds the same
// live content.
func clone(t *rapid.T, s *State, name string) *State {
	c := New(name, 1)
	join(t, c, s)
	return c
}

// TestPropertyJoinLaws: state join (full transfer of one replica into another)
// is commutative, associative and idempotent on live content and hash.
func TestPropertyJoinLaws(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		w := newWorld(rapid.IntRange(1, 2).Draw(t, "origins"))
		for range rapid.IntRange(0, 30).Draw(t, "steps") {
			w.step(t)
		}
		x := replicaFrom(t, "x", w.sent)
		y := replicaFrom(t, "y", w.sent)
		z := replicaFrom(t, "z", w.sent)
		eq := func(law string, a, b *State) {
			ca, cb := content(a), content(b)
			delete(ca, a.Self()+"/")
			delete(cb, b.Self()+"/")
			if !maps.Equal(ca, cb) || a.Hash() != b.Hash() {
				t.Fatalf("%s: %v (%x) != %v (%x)", law, ca, a.Hash(), cb, b.Hash())
			}
		}
		// Commutative: x ⊔ y = y ⊔ x.
		xy, yx := clone(t, x, "xy"), clone(t, y, "yx")
		join(t, xy, y)
		join(t, yx, x)
		eq("commutative", xy, yx)
		// Associative: (x ⊔ y) ⊔ z = x ⊔ (y ⊔ z).
		l := clone(t, xy, "l")
		join(t, l, z)
		yz := clone(t, y, "yz")
		join(t, yz, z)
		r := clone(t, x, "r")
		join(t, r, yz)
		eq("associative", l, r)
		// Idempotent: x ⊔ x = x, and merging a delta twice changes nothing.
		xx := clone(t, x, "xx")
		join(t, xx, x)
		eq("idempotent", xx, clone(t, x, "x2"))
		if len(w.sent) > 0 {
			d := w.sent[rapid.IntRange(0, len(w.sent)-1).Draw(t, "twice")]
			a := clone(t, x, "a")
			if _, err := a.Merge(d); err != nil {
				t.Fatal(err)
			}
			before := content(a)
			res, err := a.Merge(d)
			if err != nil {
				t.Fatal(err)
			}
			if !maps.Equal(before, content(a)) || len(res.Changes) != 0 || res.New {
				t.Fatalf("second merge of the same delta changed %v (new %v)", res.Changes, res.New)
			}
		}
	})
}

// TestPropertyOrderIndependence: the same set of deltas merged in two random
// orders gives the same content (before any repair), so eager push needs no
// ordering.
func TestPropertyOrderIndependence(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		w := newWorld(rapid.IntRange(1, 2).Draw(t, "origins"))
		for range rapid.IntRange(0, 40).Draw(t, "steps") {
			w.step(t)
		}
		a, b := New("a", 1), New("b", 1)
		for _, i := range rapid.Permutation(indexes(len(w.sent))).Draw(t, "order-a") {
			if _, err := a.Merge(w.sent[i]); err != nil {
				t.Fatal(err)
			}
		}
		for _, i := range rapid.Permutation(indexes(len(w.sent))).Draw(t, "order-b") {
			if _, err := b.Merge(w.sent[i]); err != nil {
				t.Fatal(err)
			}
		}
		ca, cb := content(a), content(b)
		delete(ca, "a/")
		delete(cb, "b/")
		if !maps.Equal(ca, cb) {
			t.Fatalf("orders disagree:\n%v\n%v", ca, cb)
		}
		// Every delta delivered: the replica equals the truth without repair.
		if want := w.truth(); !maps.Equal(ca, want) {
			t.Fatalf("all deltas merged: got %v, want %v", ca, want)
		}
	})
}

func indexes(n int) []int {
	ix := make([]int, n)
	for i := range ix {
		ix[i] = i
	}
	return ix
}

// TestPropertySnapshotEquivalence: a peer below the sender's GC floor receives a
// window from 1, and the result equals what it would hold had it seen every delta.
func TestPropertySnapshotEquivalence(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		o := New("o", 1)
		var log []Delta
		for range rapid.IntRange(1, 40).Draw(t, "steps") {
			k := rapid.SampledFrom(keys).Draw(t, "key")
			if rapid.Bool().Draw(t, "put") {
				log = append(log, o.Put(k, []byte(k)))
			} else if d, ok := o.Delete(k); ok {
				log = append(log, d)
			}
		}
		if len(log) == 0 {
			return
		}
		// The peer saw a prefix of the log, then the origin collected tombstones.
		peer := New("p", 1)
		for _, d := range log[:rapid.IntRange(0, len(log)).Draw(t, "seen")] {
			if _, err := peer.Merge(d); err != nil {
				t.Fatal(err)
			}
		}
		o.Compact("o", rapid.Uint64Range(0, o.Position("o").Applied).Draw(t, "floor"))
		ds := o.DeltaSince(peer.Digest(), rapid.IntRange(1, 200).Draw(t, "budget"))
		pv := peer.Position("o")
		if pv.Applied < o.Floor("o") && !slices.ContainsFunc(ds, Delta.Snapshot) {
			t.Fatalf("peer at %d below floor %d got %+v, want a snapshot", pv.Applied, o.Floor("o"), ds)
		}
		for _, d := range ds {
			if _, err := peer.Merge(d); err != nil {
				t.Fatal(err)
			}
		}
		got, want := content(peer), content(o)
		delete(got, "p/")
		if !maps.Equal(got, want) || peer.Hash() != o.Hash() {
			t.Fatalf("after repair got %v, want %v", got, want)
		}
		if peer.Position("o") != o.Position("o") {
			t.Fatalf("peer version %+v, origin %+v", peer.Position("o"), o.Position("o"))
		}
	})
}

// TestPropertyEpochReplacement: after an origin restarts, nothing of its old epoch
// survives at a replica, whichever order old and new deltas arrive in.
func TestPropertyEpochReplacement(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		old := New("o", 1)
		var log []Delta
		for _, k := range rapid.SliceOfN(rapid.SampledFrom(keys), 1, 8).Draw(t, "old") {
			log = append(log, old.Put(k, []byte("old")))
		}
		nw := New("o", 2)
		for _, k := range rapid.SliceOfN(rapid.SampledFrom(keys), 0, 8).Draw(t, "new") {
			log = append(log, nw.Put(k, []byte("new")))
		}
		r := New("r", 1)
		for _, i := range rapid.Permutation(indexes(len(log))).Draw(t, "order") {
			if _, err := r.Merge(log[i]); err != nil {
				t.Fatal(err)
			}
		}
		repair(t, []*State{nw, r})
		got := content(r)
		delete(got, "r/")
		if want := content(nw); !maps.Equal(got, want) {
			t.Fatalf("got %v, want only the new epoch %v", got, want)
		}
	})
}

// TestPropertyEpochFloor: whatever order incarnations of an origin arrive in,
// interleaved with reaps, a replica never holds an epoch below the highest it
// has seen (until Forget), and what it holds is exactly that incarnation's.
func TestPropertyEpochFloor(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		n := rapid.IntRange(2, 5).Draw(t, "incarnations")
		var log []Delta
		for e := 1; e <= n; e++ {
			o := New("o", uint64(e))
			for _, k := range rapid.SliceOfN(rapid.SampledFrom(keys), 0, 4).Draw(t, "keys") {
				o.Put(k, fmt.Appendf(nil, "e%d", e))
			}
			log = append(log, o.DeltaSince(nil, 1<<20)...)
		}
		r := New("r", 1)
		seen := uint64(0)
		for _, i := range rapid.Permutation(indexes(len(log))).Draw(t, "order") {
			if rapid.IntRange(0, 3).Draw(t, "reap") == 0 {
				r.Reap("o")
			}
			if _, err := r.Merge(log[i]); err != nil {
				t.Fatal(err)
			}
			seen = max(seen, log[i].Epoch)
			if got := r.EpochFloor("o"); got != seen {
				t.Fatalf("floor %d after seeing epoch %d", got, seen)
			}
			for e := range r.Entries("o") {
				if want := fmt.Sprintf("e%d", seen); string(e.Value) != want {
					t.Fatalf("holds %s/%s=%s at floor %d", "o", e.Key, e.Value, seen)
				}
			}
		}
	})
}
