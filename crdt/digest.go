package crdt

import (
	"cmp"
	"fmt"
	"iter"
	"maps"
	"math/bits"
	"slices"
)

// Digest is a replica's position for every origin it holds: what a peer needs to
// compute exactly what the replica lacks. It is O(origins), never O(entries).
type Digest map[string]Position

// Departure is news that an origin's owner failed or left, as the owner of a
// replica holds it. It travels beside the digest so that a replica whose owner
// joined after the departure learns it: membership protocols tell a joining
// node about live members only. The crdt does not interpret it.
type Departure struct {
	Origin string
	Epoch  uint64 // the origin's epoch the sender holds
	Left   bool   // left gracefully; false: failed
	AgeMs  uint64 // milliseconds since the departure, on the sender's clock
}

// Sum is a 64-bit hash of the digest: equal digests have equal sums, and
// two different digests the same sum with probability about 2⁻⁶⁴. It is a
// sum (mod 2⁶⁴) of one hash per origin, so the order of a map does not
// matter. Peers compare sums before they exchange digests (gossip's msgSum).
func (d Digest) Sum() uint64 {
	sum, _ := d.Sums(0)
	return sum
}

// MaxSumBuckets bounds the buckets of Sums.
const MaxSumBuckets = 128

// SumBucket is origin's bucket among buckets (a power of two, at most
// MaxSumBuckets): the top bits of a hash of its name, the same on every
// replica.
func SumBucket(origin string, buckets int) int {
	if buckets <= 1 {
		return 0
	}
	return int(mix64(fnvString(fnvOffset, origin)) >> (64 - bits.TrailingZeros(uint(buckets))))
}

// Sums returns the digest's Sum and, for buckets > 0 (a power of two, at
// most MaxSumBuckets), the sum of each bucket's origins (SumBucket), whose
// total is Sum: where two digests' bucket sums differ, the origins of that
// bucket differ, and only there (but with probability about 2⁻⁶⁴).
func (d Digest) Sums(buckets int) (uint64, []uint64) {
	return sumsOf(maps.All(d), buckets)
}

// DigestSums is Digest().Sums(buckets) without building the digest.
func (s *State) DigestSums(buckets int) (uint64, []uint64) {
	return sumsOf(func(yield func(string, Position) bool) {
		for name, o := range s.origins {
			if !yield(name, Position{Epoch: o.epoch, Applied: o.cov.applied}) {
				return
			}
		}
	}, buckets)
}

// sumsOf is Sums of the positions.
func sumsOf(positions iter.Seq2[string, Position], buckets int) (uint64, []uint64) {
	var per []uint64
	if buckets > 0 {
		per = make([]uint64, buckets)
	}
	var sum uint64
	for origin, p := range positions {
		h := positionHash(origin, p)
		sum += h
		if per != nil {
			per[SumBucket(origin, buckets)] += h
		}
	}
	return sum, per
}

// positionHash is the term of one origin in a digest's Sum.
func positionHash(origin string, p Position) uint64 {
	h := fnvString(fnvOffset, origin)
	h = fnvUint(h, p.Epoch)
	h = fnvUint(h, p.Applied)
	return mix64(h)
}

// Digest returns the replica's current digest.
func (s *State) Digest() Digest {
	d := make(Digest, len(s.origins))
	for name, o := range s.origins {
		d[name] = Position{Epoch: o.epoch, Applied: o.cov.applied}
	}
	return d
}

// CheckSelf compares what a peer's digest says of this replica's own origin with
// the replica's own position: ErrNewerSelfEpoch if the peer holds a newer epoch,
// ErrDivergentSelf if it holds the current epoch beyond what the replica issued;
// nil otherwise.
func (s *State) CheckSelf(peer Digest) error {
	pv, ok := peer[s.self]
	if !ok {
		return nil
	}
	o := s.origins[s.self]
	switch {
	case pv.Epoch > o.epoch:
		return fmt.Errorf("%w: epoch %d, own %d", ErrNewerSelfEpoch, pv.Epoch, o.epoch)
	case pv.Epoch == o.epoch && pv.Applied > o.cov.applied:
		return fmt.Errorf("%w: epoch %d applied %d, own applied %d", ErrDivergentSelf, pv.Epoch, pv.Applied, o.cov.applied)
	}
	return nil
}

// Lacks reports whether a peer with digest peer lacks anything this replica
// could send it (cheap; no deltas are built).
func (s *State) Lacks(peer Digest) bool {
	for name, o := range s.origins {
		if o.cov.applied == 0 {
			continue
		}
		pv, ok := peer[name]
		if !ok || pv.Epoch < o.epoch || (pv.Epoch == o.epoch && pv.Applied < o.cov.applied) {
			return true
		}
	}
	return false
}

// DeltaSince returns the deltas a peer holding digest peer lacks, each estimated
// (Delta.Size) under budget bytes where possible: an entry bigger than the budget
// travels alone. For one origin the windows are emitted highest first, so applying
// them in order never drops a key an earlier chunk brought. Origins are visited
// in name order. A peer below this replica's GC floor, or on an older epoch, gets
// a window from 1: a whole-origin snapshot.
func (s *State) DeltaSince(peer Digest, budget int) []Delta {
	names := make([]string, 0, len(s.origins))
	for name := range s.origins {
		names = append(names, name)
	}
	slices.Sort(names)
	var out []Delta
	for _, name := range names {
		out = s.appendOrigin(out, name, peer, budget)
	}
	return out
}

// DeltaSinceOrigin is DeltaSince restricted to one origin (gap repair).
func (s *State) DeltaSinceOrigin(origin string, have Position, budget int) []Delta {
	return s.appendOrigin(nil, origin, Digest{origin: have}, budget)
}

func (s *State) appendOrigin(out []Delta, name string, peer Digest, budget int) []Delta {
	o := s.origins[name]
	if o == nil {
		return out
	}
	pv, ok := peer[name]
	if ok && (pv.Epoch > o.epoch || (pv.Epoch == o.epoch && pv.Applied >= o.cov.applied)) {
		return out
	}
	from := uint64(1)
	if ok && pv.Epoch == o.epoch && pv.Applied >= o.floor {
		from = pv.Applied + 1
	}
	var es []Entry
	for _, e := range o.entries.Entries() {
		if r := e.Val; r.seq >= from {
			es = append(es, Entry{Key: e.Key, Seq: r.seq, Value: r.value, Deleted: r.deleted()})
		}
	}
	slices.SortFunc(es, func(a, b Entry) int { return cmp.Compare(b.Seq, a.Seq) })

	base := Delta{Origin: name, Epoch: o.epoch, Floor: o.floor}
	// Entries beyond the contiguous prefix ride in window-less deltas.
	extra := 0
	for extra < len(es) && es[extra].Seq > o.cov.applied {
		extra++
	}
	i := 0
	for i < extra {
		j := cut(es[:extra], i, budget, base.Size())
		d := base
		d.Entries = es[i:j]
		out = append(out, d)
		i = j
	}
	if o.cov.applied == 0 {
		return out // no contiguous prefix yet: nothing to claim a window over
	}
	// Cut the window [from, applied] into chunks, highest first.
	var chunks []Delta
	for hi := o.cov.applied; ; {
		j := cut(es, i, budget, base.Size())
		d := base
		d.Entries = es[i:j]
		d.To = hi
		if j == len(es) {
			d.From = from
		} else {
			d.From = es[j-1].Seq
		}
		chunks = append(chunks, d)
		if j == len(es) {
			break
		}
		hi = d.From - 1
		i = j
	}
	// Chunks above the floor go highest first: a key's newest version arrives
	// before a lower chunk could tombstone its older one. Chunks reaching below
	// the floor must go lowest first: each is only sound on top of the snapshot
	// chunk from 1 (see originState.sound).
	k := len(chunks)
	for k > 0 && chunks[k-1].From <= o.floor {
		k--
	}
	out = append(out, chunks[:k]...)
	for n := len(chunks) - 1; n >= k; n-- {
		out = append(out, chunks[n])
	}
	return out
}

// cut returns the end of the chunk starting at es[i] that fits the budget (at
// least one entry, if any remain).
func cut(es []Entry, i, budget, size int) int {
	j := i
	for j < len(es) {
		size += es[j].Size()
		if size > budget && j > i {
			break
		}
		j++
	}
	return j
}
