package crdt

import (
	"errors"
	"fmt"
)

// Errors returned by Merge and Delta.Validate.
var (
	// ErrInvalidDelta wraps every structural problem of a delta.
	ErrInvalidDelta = errors.New("crdt: invalid delta")
	// ErrNewerSelfEpoch means a peer holds state of this replica's own origin under
	// a newer epoch than the replica's; the owner must Rebase above it.
	ErrNewerSelfEpoch = errors.New("crdt: peer holds a newer epoch of this origin")
	// ErrDivergentSelf means a peer holds state of this replica's own origin
	// under the replica's current epoch that the replica never wrote: another
	// incarnation drew the same epoch. The owner must Rebase above it.
	ErrDivergentSelf = errors.New("crdt: peer holds a divergent history of this origin's epoch")
)

// Entry is one versioned register of an origin: a value, or a tombstone when
// Deleted is set (Value is then nil).
type Entry struct {
	Key     string
	Seq     uint64
	Value   []byte
	Deleted bool
}

// Position is how far a replica holds an origin: the origin's epoch and the highest
// contiguous seq applied. It is a replica's position, not a record's version (that is
// catalog.Version{Epoch, Seq}).
type Position struct {
	Epoch   uint64 // incarnation of the origin's state; 0 means none
	Applied uint64 // highest contiguous seq held
}

// Delta is a window of an origin's changes; see the package comment for its
// contract.
type Delta struct {
	Origin  string
	Epoch   uint64
	From    uint64 // first seq of the window, >= 1; 0 for no window
	To      uint64 // last seq of the window, >= From; 0 for no window
	Floor   uint64 // sender's GC floor for the origin: tombstones <= Floor may be gone
	Entries []Entry
}

// Size limits enforced by Validate; they bound what a peer can make a replica hold.
const (
	MaxKeyLen   = 512      // bytes of an entry key
	MaxValueLen = 64 << 10 // bytes of an entry value
	MaxEntries  = 1 << 16  // entries in one delta
	maxOrigin   = 256      // bytes of an origin name
	entryFixed  = 24       // estimated encoding overhead of an entry
	deltaFixed  = 48       // estimated encoding overhead of a delta
)

// Size is an estimate, in bytes, of the entry's encoded size; it is used to cut
// deltas under a byte budget and is an upper bound for the gossip codec.
func (e Entry) Size() int { return entryFixed + len(e.Key) + len(e.Value) }

// Size is an estimate, in bytes, of the delta's encoded size.
func (d Delta) Size() int {
	n := deltaFixed + len(d.Origin)
	for _, e := range d.Entries {
		n += e.Size()
	}
	return n
}

// Snapshot reports whether the delta is a whole-origin snapshot (a window from 1).
func (d Delta) Snapshot() bool { return d.From == 1 }

// Validate checks a delta's structure: non-empty origin, an epoch, a well-formed
// window, unique keys and seqs, no entry below the window, tombstones without
// values, and the size limits. A delta that fails changes nothing when merged.
func (d Delta) Validate() error {
	switch {
	case d.Origin == "" || len(d.Origin) > maxOrigin:
		return fmt.Errorf("%w: origin length %d", ErrInvalidDelta, len(d.Origin))
	case d.Epoch == 0:
		return fmt.Errorf("%w: epoch 0", ErrInvalidDelta)
	case (d.From == 0) != (d.To == 0) || d.From > d.To:
		return fmt.Errorf("%w: window [%d, %d]", ErrInvalidDelta, d.From, d.To)
	case len(d.Entries) > MaxEntries:
		return fmt.Errorf("%w: %d entries", ErrInvalidDelta, len(d.Entries))
	case d.From == 0 && len(d.Entries) == 0:
		return fmt.Errorf("%w: no window and no entries", ErrInvalidDelta)
	}
	for _, e := range d.Entries {
		switch {
		case e.Key == "" || len(e.Key) > MaxKeyLen:
			return fmt.Errorf("%w: key length %d", ErrInvalidDelta, len(e.Key))
		case len(e.Value) > MaxValueLen:
			return fmt.Errorf("%w: value of %q is %d bytes", ErrInvalidDelta, e.Key, len(e.Value))
		case e.Seq == 0 || e.Seq < d.From:
			return fmt.Errorf("%w: seq %d of %q outside window from %d", ErrInvalidDelta, e.Seq, e.Key, d.From)
		case e.Deleted && e.Value != nil:
			return fmt.Errorf("%w: tombstone %q with a value", ErrInvalidDelta, e.Key)
		}
	}
	return d.unique()
}

// unique rejects a key or a seq that appears twice. Small deltas (the eager-push
// case) are checked pairwise, without allocating.
func (d Delta) unique() error {
	es := d.Entries
	if len(es) <= 16 {
		for i := range es {
			for j := i + 1; j < len(es); j++ {
				if es[i].Key == es[j].Key || es[i].Seq == es[j].Seq {
					return fmt.Errorf("%w: key %q or seq %d twice", ErrInvalidDelta, es[j].Key, es[j].Seq)
				}
			}
		}
		return nil
	}
	keys := make(map[string]struct{}, len(es))
	seqs := make(map[uint64]struct{}, len(es))
	for _, e := range es {
		if _, dup := keys[e.Key]; dup {
			return fmt.Errorf("%w: key %q twice", ErrInvalidDelta, e.Key)
		}
		if _, dup := seqs[e.Seq]; dup {
			return fmt.Errorf("%w: seq %d twice", ErrInvalidDelta, e.Seq)
		}
		keys[e.Key] = struct{}{}
		seqs[e.Seq] = struct{}{}
	}
	return nil
}
