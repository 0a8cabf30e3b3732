package crdt

import (
	"fmt"
	"iter"
	"sort"

	"github.com/grapevine-sd/grapevine/internal/densemap"
)

// record is an entry as a replica stores it (the key is the map key): 32
// bytes, the deletion folded into the value (docs/scaling.md, "Memory").
type record struct {
	seq   uint64
	value []byte // nil for a tombstone; never nil for a live entry
}

// empty is the value of a live entry that carries no bytes.
var empty = []byte{}

// newRecord returns the record of an entry: a tombstone when deleted, else a
// live value (nil stored as empty).
func newRecord(seq uint64, value []byte, deleted bool) record {
	switch {
	case deleted:
		value = nil
	case value == nil:
		value = empty
	}
	return record{seq: seq, value: value}
}

func (r record) deleted() bool { return r.value == nil }

// entries is an origin's records by key.
type entries = densemap.Map[string, record]

// originState is everything a replica holds of one origin.
type originState struct {
	epoch uint64
	cov   coverage
	floor uint64 // tombstones with seq <= floor may have been collected
	// exact says that entries with seq <= exact.through reflect every deletion up
	// to exact.floor: set by a window from 1 (a snapshot) and extended by the
	// chunks that continue it. A chunk that reaches below its sender's floor is
	// only sound on top of such a prefix (or an applied prefix past that floor).
	exact   struct{ through, floor uint64 }
	entries entries
	live    int    // entries that are not tombstones
	hash    uint64 // sum of entryHash over live entries
}

// State is a replica of the whole catalog: its own origin, which it writes, and
// every other origin it has heard of, which it only merges.
type State struct {
	self    string
	origins map[string]*originState
	// gone holds the epoch of every reaped origin until Forget: a delta of an
	// older epoch is then still recognized as older (an epoch floor).
	gone map[string]uint64
	hash uint64 // sum of originState.hash
	live int
}

// Change is one visible change made by Merge, Reap or Rebase: a live value that
// appeared, changed or went away. Old or New is nil when the key was absent or a
// tombstone on that side.
type Change struct {
	Origin string
	Key    string
	Seq    uint64 // seq of the new entry; 0 when the key was removed without one
	OldSeq uint64 // seq of the old value; 0 when Old is nil
	Old    []byte
	New    []byte
}

// MergeResult tells the caller what a Merge did.
type MergeResult struct {
	Changes  []Change // visible changes, for indexes and watches
	New      bool     // the delta carried something this replica did not hold
	Replaced bool     // a newer epoch replaced the origin's previous state
	Gap      bool     // seqs beyond the contiguous prefix are held: a repair is due
}

// New returns a replica whose own origin is self, starting at epoch (>= 1).
func New(self string, epoch uint64) *State {
	if epoch == 0 {
		panic("crdt: New with epoch 0") // programming error, never input
	}
	s := &State{self: self, origins: make(map[string]*originState), gone: make(map[string]uint64)}
	s.origins[self] = newOwnOrigin(epoch)
	return s
}

func newOrigin(epoch uint64) *originState {
	return &originState{epoch: epoch, entries: densemap.New[string, record](densemap.String)}
}

// newOwnOrigin starts an epoch of the replica's own origin. Seq 1 is spent on the
// epoch's announcement, which holds no entry: even an origin that owns nothing
// has a window [1, 1] to send, and that replaces its older epoch everywhere.
func newOwnOrigin(epoch uint64) *originState {
	o := newOrigin(epoch)
	o.cov.applied = 1
	return o
}

// Self is the name of the replica's own origin.
func (s *State) Self() string { return s.self }

// Len is the number of live entries across all origins.
func (s *State) Len() int { return s.live }

// Hash is an order-independent fingerprint of the live content (origin, epoch,
// key, seq, value of every live entry). Replicas holding the same content have the
// same hash whatever order they learnt it in. It is updated incrementally, O(1).
func (s *State) Hash() uint64 { return s.hash }

// Position is the replica's position for origin (zero Position if unknown).
func (s *State) Position(origin string) Position {
	o := s.origins[origin]
	if o == nil {
		return Position{}
	}
	return Position{Epoch: o.epoch, Applied: o.cov.applied}
}

// Live is the number of live entries held for origin.
func (s *State) Live(origin string) int {
	if o := s.origins[origin]; o != nil {
		return o.live
	}
	return 0
}

// Floor is the GC floor the replica holds for origin.
func (s *State) Floor(origin string) uint64 {
	if o := s.origins[origin]; o != nil {
		return o.floor
	}
	return 0
}

// Get returns the entry for (origin, key), tombstones included.
func (s *State) Get(origin, key string) (Entry, bool) {
	o := s.origins[origin]
	if o == nil {
		return Entry{}, false
	}
	r, ok := o.entries.Get(key)
	if !ok {
		return Entry{}, false
	}
	return Entry{Key: key, Seq: r.seq, Value: r.value, Deleted: r.deleted()}, true
}

// Put sets key of the own origin to value and returns the delta to disseminate.
// value is kept, not copied: the caller must not modify it afterwards.
func (s *State) Put(key string, value []byte) Delta {
	if value == nil {
		value = []byte{}
	}
	return s.local(key, value, false)
}

// Delete tombstones key of the own origin. It returns false, and no delta, when
// the key holds no live value.
func (s *State) Delete(key string) (Delta, bool) {
	if r, ok := s.origins[s.self].entries.Get(key); !ok || r.deleted() {
		return Delta{}, false
	}
	return s.local(key, nil, true), true
}

func (s *State) local(key string, value []byte, deleted bool) Delta {
	o := s.origins[s.self]
	seq := o.cov.applied + 1
	s.set(s.self, o, key, newRecord(seq, value, deleted))
	o.cov.add(seq, seq)
	return Delta{
		Origin: s.self, Epoch: o.epoch, From: seq, To: seq, Floor: o.floor,
		Entries: []Entry{{Key: key, Seq: seq, Value: value, Deleted: deleted}},
	}
}

// Rebase moves the own origin to a newer epoch, renumbering its live entries
// after the epoch's announcement (seq 1) and dropping its tombstones; it returns
// the snapshot delta of the new epoch. Used when a peer is found holding a newer
// epoch of this origin.
func (s *State) Rebase(epoch uint64) (Delta, error) {
	o := s.origins[s.self]
	if epoch <= o.epoch {
		return Delta{}, fmt.Errorf("crdt: rebase to epoch %d not above %d", epoch, o.epoch)
	}
	keep := make([]densemap.Entry[string, record], 0, o.live)
	for _, e := range o.entries.Entries() {
		if !e.Val.deleted() {
			keep = append(keep, e)
		}
	}
	sort.Slice(keep, func(i, j int) bool { return keep[i].Val.seq < keep[j].Val.seq })
	s.clearOrigin(s.self, o, nil)
	*o = *newOwnOrigin(epoch)
	d := Delta{Origin: s.self, Epoch: epoch, From: 1}
	for _, e := range keep {
		seq := o.cov.applied + 1
		s.set(s.self, o, e.Key, record{seq: seq, value: e.Val.value})
		o.cov.add(seq, seq)
		d.Entries = append(d.Entries, Entry{Key: e.Key, Seq: seq, Value: e.Val.value})
	}
	d.To = o.cov.applied
	return d, nil
}

// removeHash takes a live record's contribution out of the hashes and counters.
func (s *State) removeHash(origin string, o *originState, key string, r record) {
	if r.deleted() {
		return
	}
	h := entryHash(origin, o.epoch, key, r)
	o.hash -= h
	s.hash -= h
	o.live--
	s.live--
}

// set stores r under key, keeping hashes and counts, and returns the visible
// change (ok false if nothing visible changed).
func (s *State) set(origin string, o *originState, key string, r record) (Change, bool) {
	var old record
	p := o.entries.Ptr(key)
	had := p != nil
	if had {
		old = *p
		s.removeHash(origin, o, key, old)
		*p = r
	} else {
		o.entries.Set(key, r)
	}
	if !r.deleted() {
		h := entryHash(origin, o.epoch, key, r)
		o.hash += h
		s.hash += h
		o.live++
		s.live++
	}
	c := Change{Origin: origin, Key: key, Seq: r.seq, New: r.value}
	if had {
		c.Old = old.value
		if c.Old != nil {
			c.OldSeq = old.seq
		}
	}
	return c, c.Old != nil || c.New != nil
}

// Merge joins a delta into the replica. An invalid delta returns an error and
// changes nothing; a delta of an older epoch is ignored. A delta about the
// replica's own origin is ignored too, but one of a newer epoch returns
// ErrNewerSelfEpoch so the owner can Rebase above it.
func (s *State) Merge(d Delta) (MergeResult, error) {
	var res MergeResult
	if err := d.Validate(); err != nil {
		return res, err
	}
	o := s.origins[d.Origin]
	if d.Origin == s.self {
		switch {
		case d.Epoch > o.epoch:
			return res, fmt.Errorf("%w: epoch %d, own %d", ErrNewerSelfEpoch, d.Epoch, o.epoch)
		case d.Epoch == o.epoch && o.divergent(d):
			return res, fmt.Errorf("%w: epoch %d, window [%d, %d], own applied %d", ErrDivergentSelf, d.Epoch, d.From, d.To, o.cov.applied)
		}
		return res, nil
	}
	switch {
	case o == nil:
		if floor := s.gone[d.Origin]; d.Epoch < floor {
			// An older incarnation of a reaped origin: hold the floor again
			// as an empty origin, so digests show it and the owner rebases
			// above it.
			s.origins[d.Origin] = newOrigin(floor)
			delete(s.gone, d.Origin)
			return res, nil
		}
		delete(s.gone, d.Origin)
		o = newOrigin(d.Epoch)
		s.origins[d.Origin] = o
		res.Replaced = true
	case d.Epoch < o.epoch:
		return res, nil
	case d.Epoch > o.epoch:
		res.Changes = s.clearOrigin(d.Origin, o, res.Changes)
		*o = *newOrigin(d.Epoch)
		res.Replaced = true
	}

	window := d.From != 0
	res.New = window && !o.cov.covers(d.From, d.To)
	if window {
		res.Changes = s.removeAbsent(d, o, res.Changes)
	}
	for _, e := range d.Entries {
		cur, ok := o.entries.Get(e.Key)
		if ok && !newer(e.Seq, e.Deleted, cur) {
			continue
		}
		if (!ok || cur.seq < e.Seq) && o.cov.holds(e.Seq) {
			// We hold every change at that seq, yet not this entry: it was
			// superseded or deleted, and the evidence collected here.
			continue
		}
		res.New = true
		if c, vis := s.set(d.Origin, o, e.Key, newRecord(e.Seq, e.Value, e.Deleted)); vis {
			res.Changes = append(res.Changes, c)
		}
	}
	if window && o.sound(d) {
		o.cov.add(d.From, d.To)
		if d.From <= d.Floor {
			// The window may lack tombstones the sender collected; so may we now.
			o.floor = max(o.floor, min(d.Floor, d.To))
		}
	}
	res.Gap = o.cov.gap()
	return res, nil
}

// divergent reports whether d, a delta of the replica's own origin under its
// current epoch, shows a history this replica did not write: a seq beyond what
// it issued, or an entry that disagrees with what it holds. Two incarnations
// that drew the same epoch (a data directory restored from a backup, a clock
// behind) are told apart this way. Deltas the replica wrote itself, however
// old, never look divergent.
func (o *originState) divergent(d Delta) bool {
	if d.To > o.cov.applied {
		return true
	}
	for _, e := range d.Entries {
		if e.Seq > o.cov.applied {
			return true
		}
		r, ok := o.entries.Get(e.Key)
		switch {
		case !ok:
			// Held keys are never forgotten except collected tombstones.
			if e.Seq > o.floor {
				return true
			}
		case r.seq < e.Seq:
			return true
		case r.seq == e.Seq && (r.deleted() != e.Deleted || string(r.value) != string(e.Value)):
			return true
		}
	}
	return false
}

// sound reports whether the window of d may be recorded as held. A window above
// the sender's GC floor always may. One that reaches below it may hide deletions
// of keys whose older versions sit below the window, so it must start at 1 (a
// snapshot) or continue a prefix known to reflect every deletion up to that
// floor. sound also extends that prefix.
func (o *originState) sound(d Delta) bool {
	switch {
	case d.From > d.Floor:
		return true
	case d.From == 1:
		o.exact.through, o.exact.floor = d.To, d.Floor // the chunks that follow continue it
		return true
	case d.From <= o.cov.applied+1 && d.Floor <= o.cov.applied:
		return true
	case d.From <= o.exact.through+1 && d.Floor <= o.exact.floor:
		o.exact.through = max(o.exact.through, d.To)
		return true
	}
	return false
}

// removeAbsent tombstones what the replica holds inside the delta's window that
// the sender does not: superseded entries and deletions the sender collected.
// This is sound for any window, contiguous or not.
func (s *State) removeAbsent(d Delta, o *originState, changes []Change) []Change {
	inWindow := 0
	for _, e := range d.Entries {
		if e.Seq <= d.To {
			inWindow++
		}
	}
	if uint64(inWindow) == d.To-d.From+1 {
		return changes // every seq of the window is accounted for
	}
	carried := make(map[string]uint64, len(d.Entries))
	for _, e := range d.Entries {
		carried[e.Key] = e.Seq
	}
	var gone []densemap.Entry[string, record]
	for _, e := range o.entries.Entries() {
		if e.Val.seq < d.From || e.Val.seq > d.To {
			continue
		}
		if seq, ok := carried[e.Key]; ok && seq >= e.Val.seq {
			continue // the delta carries this key; the merge loop handles it
		}
		gone = append(gone, e)
	}
	for _, e := range gone {
		// Turn it into a tombstone at its own seq rather than forgetting it: the
		// version held for a key never goes backward, so a late copy of an older
		// value cannot come back. Compact collects it like any tombstone.
		if c, vis := s.set(d.Origin, o, e.Key, record{seq: e.Val.seq}); vis {
			changes = append(changes, c)
		}
	}
	return changes
}

// newer orders versions of one key: by seq, and at equal seq a tombstone wins
// (window removal tombstones a key at the seq it held).
func newer(seq uint64, deleted bool, cur record) bool {
	return seq > cur.seq || (seq == cur.seq && deleted && !cur.deleted())
}

// clearOrigin removes every entry of o, appending the visible changes.
func (s *State) clearOrigin(origin string, o *originState, changes []Change) []Change {
	for _, e := range o.entries.Entries() {
		if !e.Val.deleted() {
			changes = append(changes, Change{Origin: origin, Key: e.Key, OldSeq: e.Val.seq, Old: e.Val.value})
		}
	}
	s.hash -= o.hash
	s.live -= o.live
	o.entries.Clear()
	o.hash, o.live = 0, 0
	return changes
}

// Reap forgets everything held of origin and returns the visible changes, but
// remembers its epoch as a floor until Forget. The replica's own origin cannot
// be reaped.
func (s *State) Reap(origin string) []Change {
	o := s.origins[origin]
	if o == nil || origin == s.self {
		return nil
	}
	ch := s.clearOrigin(origin, o, nil)
	delete(s.origins, origin)
	s.gone[origin] = o.epoch
	return ch
}

// EpochFloor is the highest epoch of origin this replica holds or held before
// reaping it (0 if none, or forgotten): a delta of a lower epoch is ignored.
func (s *State) EpochFloor(origin string) uint64 {
	if o := s.origins[origin]; o != nil {
		return o.epoch
	}
	return s.gone[origin]
}

// Forget drops the epoch floor of a reaped origin (see Reap), bounding the
// memory floors take; it does nothing for a held origin.
func (s *State) Forget(origin string) { delete(s.gone, origin) }

// Gone is the number of reaped origins whose epoch floor is remembered.
func (s *State) Gone() int { return len(s.gone) }

// Compact collects the origin's tombstones with seq <= upTo (and <= the
// contiguous prefix) and raises its GC floor; it returns how many it dropped.
// The caller chooses upTo by its tombstone horizon, e.g. the applied seq it
// recorded a horizon ago.
func (s *State) Compact(origin string, upTo uint64) int {
	o := s.origins[origin]
	if o == nil {
		return 0
	}
	upTo = min(upTo, o.cov.applied)
	if upTo <= o.floor {
		return 0
	}
	n := o.entries.DeleteFunc(func(_ string, r record) bool { return r.deleted() && r.seq <= upTo })
	o.floor = upTo
	return n
}

// Origins yields every origin the replica holds and its version.
func (s *State) Origins() iter.Seq2[string, Position] {
	return func(yield func(string, Position) bool) {
		for name, o := range s.origins {
			if !yield(name, Position{Epoch: o.epoch, Applied: o.cov.applied}) {
				return
			}
		}
	}
}

// Entries yields the live entries of origin without copying them. The State must
// not be modified while iterating.
func (s *State) Entries(origin string) iter.Seq[Entry] {
	return func(yield func(Entry) bool) {
		o := s.origins[origin]
		if o == nil {
			return
		}
		for _, e := range o.entries.Entries() {
			if e.Val.deleted() {
				continue
			}
			if !yield(Entry{Key: e.Key, Seq: e.Val.seq, Value: e.Val.value}) {
				return
			}
		}
	}
}

// All yields every live entry of every origin, with its origin.
func (s *State) All() iter.Seq2[string, Entry] {
	return func(yield func(string, Entry) bool) {
		for name := range s.origins {
			for e := range s.Entries(name) {
				if !yield(name, e) {
					return
				}
			}
		}
	}
}

// Tombstones is the number of tombstones held for origin.
func (s *State) Tombstones(origin string) int {
	o := s.origins[origin]
	if o == nil {
		return 0
	}
	return o.entries.Len() - o.live
}
