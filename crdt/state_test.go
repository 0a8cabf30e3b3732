package crdt

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"testing"

	"pgregory.net/rapid"
)

func TestValidate(t *testing.T) {
	ok := Entry{Key: "k", Seq: 3, Value: []byte("v")}
	tests := []struct {
		name string
		d    Delta
		want error
	}{
		{"valid window", Delta{Origin: "o", Epoch: 1, From: 3, To: 3, Entries: []Entry{ok}}, nil},
		{"valid empty window", Delta{Origin: "o", Epoch: 1, From: 1, To: 1}, nil},
		{"valid no window", Delta{Origin: "o", Epoch: 1, Entries: []Entry{ok}}, nil},
		{"no origin", Delta{Epoch: 1, From: 1, To: 1}, ErrInvalidDelta},
		{"epoch 0", Delta{Origin: "o", From: 1, To: 1}, ErrInvalidDelta},
		{"half window", Delta{Origin: "o", Epoch: 1, From: 1}, ErrInvalidDelta},
		{"inverted window", Delta{Origin: "o", Epoch: 1, From: 4, To: 3}, ErrInvalidDelta},
		{"nothing at all", Delta{Origin: "o", Epoch: 1}, ErrInvalidDelta},
		{"entry below window", Delta{Origin: "o", Epoch: 1, From: 4, To: 5, Entries: []Entry{ok}}, ErrInvalidDelta},
		{"seq 0", Delta{Origin: "o", Epoch: 1, Entries: []Entry{{Key: "k"}}}, ErrInvalidDelta},
		{"empty key", Delta{Origin: "o", Epoch: 1, Entries: []Entry{{Seq: 1}}}, ErrInvalidDelta},
		{"tombstone with value", Delta{Origin: "o", Epoch: 1, Entries: []Entry{{Key: "k", Seq: 1, Deleted: true, Value: []byte{1}}}}, ErrInvalidDelta},
		{"duplicate key", Delta{Origin: "o", Epoch: 1, Entries: []Entry{{Key: "k", Seq: 1}, {Key: "k", Seq: 2}}}, ErrInvalidDelta},
		{"duplicate seq", Delta{Origin: "o", Epoch: 1, Entries: []Entry{{Key: "a", Seq: 1}, {Key: "b", Seq: 1}}}, ErrInvalidDelta},
		{"huge value", Delta{Origin: "o", Epoch: 1, Entries: []Entry{{Key: "k", Seq: 1, Value: make([]byte, MaxValueLen+1)}}}, ErrInvalidDelta},
	}
	for _, tt := range tests {
		if got := tt.d.Validate(); !errors.Is(got, tt.want) && got != tt.want {
			t.Errorf("%s: Validate() = %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestInvalidDeltaChangesNothing(t *testing.T) {
	r := New("r", 1)
	o := New("o", 1)
	if _, err := r.Merge(o.Put("a", []byte("1"))); err != nil {
		t.Fatal(err)
	}
	before, hash, v := content(r), r.Hash(), r.Position("o")
	bad := Delta{Origin: "o", Epoch: 9, From: 2, To: 2, Entries: []Entry{{Key: "a", Seq: 1}}}
	if _, err := r.Merge(bad); !errors.Is(err, ErrInvalidDelta) {
		t.Fatalf("Merge(bad) = %v, want ErrInvalidDelta", err)
	}
	if !maps.Equal(before, content(r)) || hash != r.Hash() || v != r.Position("o") {
		t.Errorf("invalid delta changed the state")
	}
}

func TestCoverage(t *testing.T) {
	tests := []struct {
		adds        [][2]uint64
		wantApplied uint64
		wantPending []span
	}{
		{[][2]uint64{{1, 1}, {2, 2}}, 2, nil},
		{[][2]uint64{{3, 3}}, 0, []span{{3, 3}}},
		{[][2]uint64{{3, 3}, {5, 6}, {1, 2}}, 3, []span{{5, 6}}},
		{[][2]uint64{{3, 3}, {5, 6}, {4, 4}, {1, 2}}, 6, nil},
		{[][2]uint64{{5, 9}, {3, 6}}, 0, []span{{3, 9}}},
		{[][2]uint64{{1, 10}, {4, 5}}, 10, nil},
	}
	for i, tt := range tests {
		var c coverage
		for _, a := range tt.adds {
			c.add(a[0], a[1])
		}
		if c.applied != tt.wantApplied || fmt.Sprint(c.pending) != fmt.Sprint(tt.wantPending) {
			t.Errorf("case %d: got applied %d pending %v, want %d %v", i, c.applied, c.pending, tt.wantApplied, tt.wantPending)
		}
	}
}

func TestPendingIsBounded(t *testing.T) {
	var c coverage
	for i := uint64(0); i < 10*maxPending; i++ {
		c.add(3+2*i, 3+2*i)
	}
	if len(c.pending) > maxPending {
		t.Fatalf("%d pending spans, want <= %d", len(c.pending), maxPending)
	}
}

func TestNewerSelfEpochAndRebase(t *testing.T) {
	me := New("me", 3)
	me.Put("a", []byte("1"))
	me.Put("b", []byte("2"))
	me.Delete("a")
	_, err := me.Merge(Delta{Origin: "me", Epoch: 7, From: 1, To: 1})
	if !errors.Is(err, ErrNewerSelfEpoch) {
		t.Fatalf("Merge(newer self) = %v, want ErrNewerSelfEpoch", err)
	}
	d, err := me.Rebase(8)
	if err != nil {
		t.Fatal(err)
	}
	if d.Epoch != 8 || !d.Snapshot() || len(d.Entries) != 1 || d.Entries[0].Key != "b" {
		t.Fatalf("rebase delta %+v", d)
	}
	r := New("r", 1)
	if _, err := r.Merge(Delta{Origin: "me", Epoch: 7, From: 1, To: 1}); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Merge(d); err != nil {
		t.Fatal(err)
	}
	if got := content(r); !maps.Equal(got, map[string]string{"me/b": "8@2:2"}) {
		t.Errorf("replica after rebase: %v", got)
	}
	if _, err := me.Rebase(8); err == nil {
		t.Error("rebase to the same epoch succeeded")
	}
}

func TestReap(t *testing.T) {
	o, r := New("o", 1), New("r", 1)
	r.Merge(o.Put("a", []byte("1")))
	r.Merge(o.Put("b", []byte("2")))
	ch := r.Reap("o")
	if len(ch) != 2 || r.Len() != 0 || r.Hash() != 0 || r.Position("o") != (Position{}) {
		t.Fatalf("after reap: %d changes, len %d, hash %x, version %+v", len(ch), r.Len(), r.Hash(), r.Position("o"))
	}
	if r.Reap("r") != nil {
		t.Error("reaped own origin")
	}
}

func TestMergeReportsChangesAndGap(t *testing.T) {
	o, r := New("o", 1), New("r", 1)
	d1 := o.Put("a", []byte("1"))
	d2 := o.Put("a", []byte("2"))
	res, _ := r.Merge(d2)
	if !res.New || !res.Gap || len(res.Changes) != 1 || string(res.Changes[0].New) != "2" {
		t.Fatalf("out of order merge: %+v", res)
	}
	res, _ = r.Merge(d1)
	if len(res.Changes) != 0 {
		t.Errorf("older value changed something: %+v", res.Changes)
	}
	// The announcement window fills the gap.
	for _, d := range o.DeltaSince(r.Digest(), 1<<10) {
		res, _ = r.Merge(d)
	}
	if res.Gap || r.Position("o").Applied != 3 {
		t.Errorf("after repair: gap %v, version %+v", res.Gap, r.Position("o"))
	}
	d3, _ := o.Delete("a")
	res, _ = r.Merge(d3)
	if len(res.Changes) != 1 || res.Changes[0].New != nil || string(res.Changes[0].Old) != "2" {
		t.Errorf("delete change: %+v", res.Changes)
	}
	if _, ok := o.Delete("a"); ok {
		t.Error("second delete produced a delta")
	}
}

func TestDeltaSinceRespectsBudget(t *testing.T) {
	o := New("o", 1)
	for i := range 100 {
		o.Put(fmt.Sprintf("key-%03d", i), make([]byte, 100))
	}
	const budget = 1000
	ds := o.DeltaSince(nil, budget)
	if len(ds) < 10 {
		t.Fatalf("%d deltas for ~14 KB under a 1 KB budget", len(ds))
	}
	for _, d := range ds {
		if d.Size() > budget {
			t.Errorf("delta of %d bytes over budget %d", d.Size(), budget)
		}
	}
	if lacks := o.Lacks(o.Digest()); lacks {
		t.Error("Lacks(own digest) = true")
	}
}

func TestHashIndependentOfOrder(t *testing.T) {
	o := New("o", 1)
	var log []Delta
	for i := range 20 {
		log = append(log, o.Put(fmt.Sprint(i%7), []byte{byte(i)}))
	}
	a, b := New("a", 1), New("b", 1)
	for i := range log {
		a.Merge(log[i])
		b.Merge(log[len(log)-1-i])
	}
	if a.Hash() != b.Hash() || a.Hash() == 0 {
		t.Errorf("hashes %x and %x", a.Hash(), b.Hash())
	}
}

// FuzzMerge feeds arbitrary deltas to a replica: it never panics, an invalid delta
// changes nothing, and the incremental hash always equals a recomputation.
func FuzzMerge(f *testing.F) {
	f.Add("o", uint64(1), uint64(1), uint64(2), uint64(0), "a", uint64(2), []byte("v"), false)
	f.Add("o", uint64(2), uint64(0), uint64(0), uint64(0), "b", uint64(9), []byte(nil), true)
	f.Fuzz(func(t *testing.T, origin string, epoch, from, to, floor uint64, key string, seq uint64, value []byte, deleted bool) {
		r := New("r", 1)
		o := New("o", 1)
		r.Merge(o.Put("a", []byte("1")))
		r.Merge(o.Put("b", []byte("2")))
		d := Delta{Origin: origin, Epoch: epoch, From: from, To: to, Floor: floor,
			Entries: []Entry{{Key: key, Seq: seq, Value: value, Deleted: deleted}}}
		before, hash := content(r), r.Hash()
		if _, err := r.Merge(d); err != nil {
			if !maps.Equal(before, content(r)) || hash != r.Hash() {
				t.Fatalf("failed merge changed the state")
			}
			return
		}
		var sum uint64
		for name, v := range r.Origins() {
			for _, e := range r.origins[name].entries.Entries() {
				if !e.Val.deleted() {
					sum += entryHash(name, v.Epoch, e.Key, e.Val)
				}
			}
		}
		if sum != r.Hash() {
			t.Fatalf("incremental hash %x, recomputed %x", r.Hash(), sum)
		}
		checkSums(t, r)
	})
}

// checkSums checks that s.DigestSums is s.Digest().Sums, for every bucket
// count, and that the buckets add up to the sum.
func checkSums(t interface{ Fatalf(string, ...any) }, s *State) {
	for _, b := range []int{0, 1, 2, 8, MaxSumBuckets} {
		sum, per := s.DigestSums(b)
		dsum, dper := s.Digest().Sums(b)
		var total uint64
		for _, v := range per {
			total += v
		}
		if sum != dsum || !slices.Equal(per, dper) || (b > 0 && (total != sum || len(per) != b)) {
			t.Fatalf("%d buckets: DigestSums %x %x, Digest().Sums %x %x", b, sum, per, dsum, dper)
		}
	}
}

// TestPropertyDigestSum: two digests have the same Sum exactly when they are
// equal, and the same bucket sum exactly where their origins of that bucket
// are equal (small alphabets, so that near-equal digests are common); a
// State's DigestSums are its digest's.
func TestPropertyDigestSum(t *testing.T) {
	digest := rapid.Custom(func(t *rapid.T) Digest {
		d := Digest{}
		for range rapid.IntRange(0, 6).Draw(t, "origins") {
			o := rapid.SampledFrom([]string{"a", "b", "c", "ab", "", "host-0001", "host-0002"}).Draw(t, "origin")
			d[o] = Position{Epoch: rapid.Uint64Range(0, 2).Draw(t, "epoch"), Applied: rapid.Uint64Range(0, 2).Draw(t, "applied")}
		}
		return d
	})
	rapid.Check(t, func(t *rapid.T) {
		a, b := digest.Draw(t, "a"), digest.Draw(t, "b")
		if eq := maps.Equal(a, b); eq != (a.Sum() == b.Sum()) {
			t.Fatalf("digests equal %v, sums %x and %x", eq, a.Sum(), b.Sum())
		}
		buckets := rapid.SampledFrom([]int{1, 2, 4, MaxSumBuckets}).Draw(t, "buckets")
		_, pa := a.Sums(buckets)
		_, pb := b.Sums(buckets)
		for i := range buckets {
			in := func(d Digest) Digest {
				return maps.Collect(func(yield func(string, Position) bool) {
					for o, p := range d {
						if SumBucket(o, buckets) == i && !yield(o, p) {
							return
						}
					}
				})
			}
			if eq := maps.Equal(in(a), in(b)); eq != (pa[i] == pb[i]) {
				t.Fatalf("bucket %d of %d: origins equal %v, sums %x and %x", i, buckets, eq, pa[i], pb[i])
			}
		}
	})
	o, r := New("o", 1), New("r", 1)
	for i := range 10 {
		r.Merge(o.Put(fmt.Sprint(i%3), []byte{byte(i)}))
		checkSums(t, o)
		checkSums(t, r)
	}
	copyOf := func(src *State) *State {
		c := New("r", 1)
		for _, d := range src.DeltaSince(c.Digest(), 1<<20) {
			c.Merge(d)
		}
		return c
	}
	r1, r2 := copyOf(o), copyOf(o)
	s1, _ := r1.DigestSums(0)
	s2, _ := r2.DigestSums(0)
	so, _ := o.DigestSums(0)
	if !maps.Equal(r1.Digest(), r2.Digest()) || s1 != s2 || s1 == so {
		t.Errorf("sums %x %x %x of digests %v %v %v", s1, s2, so, r1.Digest(), r2.Digest(), o.Digest())
	}
}

// TestEpochFloorOutlivesReap: once a replica has seen an epoch of an origin, an
// older incarnation never replaces it, even after the origin was reaped; the
// floor shows in the digest so the owner can rebase above it.
func TestEpochFloorOutlivesReap(t *testing.T) {
	r := New("r", 1)
	newer := New("o", 9)
	if _, err := r.Merge(newer.Put("a", []byte("new"))); err != nil {
		t.Fatal(err)
	}
	r.Reap("o")
	if got := r.EpochFloor("o"); got != 9 {
		t.Fatalf("floor after reap = %d, want 9", got)
	}
	older := New("o", 4)
	res, err := r.Merge(older.Put("a", []byte("old")))
	if err != nil || res.New || len(res.Changes) != 0 {
		t.Fatalf("older incarnation after reap: %+v, %v", res, err)
	}
	if _, ok := r.Get("o", "a"); ok {
		t.Fatal("older incarnation's entry held")
	}
	if got := r.Digest()["o"]; got != (Position{Epoch: 9}) {
		t.Fatalf("digest row of the floor = %+v, want epoch 9, nothing applied", got)
	}
	// The owner sees the floor in the digest and rebases above it.
	if err := older.CheckSelf(r.Digest()); !errors.Is(err, ErrNewerSelfEpoch) {
		t.Fatalf("CheckSelf = %v, want ErrNewerSelfEpoch", err)
	}
	d, err := older.Rebase(10)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Merge(d); err != nil {
		t.Fatal(err)
	}
	if e, ok := r.Get("o", "a"); !ok || string(e.Value) != "old" || r.Position("o").Epoch != 10 {
		t.Fatalf("after rebase: %+v %v, position %+v", e, ok, r.Position("o"))
	}
	// Forget bounds the memory: afterwards the floor is gone.
	r.Reap("o")
	r.Forget("o")
	if r.EpochFloor("o") != 0 || r.Gone() != 0 {
		t.Fatalf("floor after Forget = %d, %d gone", r.EpochFloor("o"), r.Gone())
	}
}

// TestDivergentSelf: two incarnations that drew the same epoch are told apart
// by what peers hold of it, in deltas and in digests; the replica's own deltas,
// however old, are not divergent.
func TestDivergentSelf(t *testing.T) {
	me := New("me", 5)
	d1 := me.Put("a", []byte("1"))
	d2 := me.Put("b", []byte("2"))
	me.Put("a", []byte("3"))
	del, _ := me.Delete("b")
	for _, d := range []Delta{d1, d2, del} {
		if _, err := me.Merge(d); err != nil {
			t.Fatalf("own delta %+v: %v", d, err)
		}
	}
	twin := New("me", 5) // same epoch, other history
	t1 := twin.Put("x", []byte("9"))
	twin.Put("y", []byte("9"))
	t3 := twin.Put("z", []byte("9"))
	tests := []struct {
		name string
		d    Delta
	}{
		{"key never written", t1},
		{"seq beyond", t3},
		{"same seq other value", Delta{Origin: "me", Epoch: 5, From: 4, To: 4, Entries: []Entry{{Key: "a", Seq: 4, Value: []byte("x")}}}},
		{"window beyond", Delta{Origin: "me", Epoch: 5, From: 1, To: 9}},
	}
	for _, tt := range tests {
		if _, err := me.Merge(tt.d); !errors.Is(err, ErrDivergentSelf) {
			t.Errorf("%s: Merge = %v, want ErrDivergentSelf", tt.name, err)
		}
	}
	if err := me.CheckSelf(twin.Digest()); err != nil {
		t.Errorf("CheckSelf(twin behind) = %v; a digest cannot tell a shorter twin", err)
	}
	twin.Put("w", []byte("9"))
	twin.Put("v", []byte("9"))
	if err := me.CheckSelf(twin.Digest()); !errors.Is(err, ErrDivergentSelf) {
		t.Errorf("CheckSelf(twin ahead) = %v, want ErrDivergentSelf", err)
	}
	if err := me.CheckSelf(me.Digest()); err != nil {
		t.Errorf("CheckSelf(own digest) = %v", err)
	}
}
