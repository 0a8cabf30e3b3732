// Package densemap is a hash map that keeps its entries in one dense slice,
// found through an open-addressing index of positions (16-bit while the map
// is small enough, else 32-bit). It exists for memory: an entry costs its own
// size, the slice's growth slack (a quarter at most) and 3 to 7 bytes of
// index, where a Go map costs about 2.5 times its slot size at the loads it
// runs at. The replica's per-record tables (crdt entries,
// catalog records) are most of an agent's heap.
//
// Iteration visits entries in slice order, which depends only on the order of
// inserts and deletes (a delete moves the last entry into the hole), never on
// hashes: two maps fed the same operations iterate alike. The hash seed is
// random per process, as a Go map's is; it changes no result, only which
// collisions a crafted key set could cause.
//
// A Map is not safe for concurrent use. It imports the standard library only
// and does no I/O.
package densemap

import (
	"hash/maphash"
	"math/bits"
)

var seed = maphash.MakeSeed()

// String hashes s for a Map keyed by strings.
func String(s string) uint64 { return maphash.String(seed, s) }

// Pair hashes the pair (a, b) for a Map keyed by two strings.
func Pair(a, b string) uint64 {
	return maphash.String(seed, a) ^ bits.RotateLeft64(maphash.String(seed, b), 32)
}

// Entry is one key and its value, as the Map stores them.
type Entry[K comparable, V any] struct {
	Key K
	Val V
}

// Map maps keys to values. The zero Map is not usable: make one with New.
type Map[K comparable, V any] struct {
	ents []Entry[K, V]
	// The index: a power-of-two number of slots, in idx16 while positions
	// fit 16 bits, else in idx32 (the other is nil). 0 is an empty slot,
	// else position+1.
	idx16 []uint16
	idx32 []uint32
	hash  func(K) uint64
}

// slots is the number of index slots.
func (m *Map[K, V]) slots() int { return len(m.idx16) + len(m.idx32) }

func (m *Map[K, V]) slot(i int) int {
	if m.idx16 != nil {
		return int(m.idx16[i])
	}
	return int(m.idx32[i])
}

func (m *Map[K, V]) setSlot(i, v int) {
	if m.idx16 != nil {
		m.idx16[i] = uint16(v)
	} else {
		m.idx32[i] = uint32(v)
	}
}

// New returns an empty Map hashing keys with hash (for strings, String).
func New[K comparable, V any](hash func(K) uint64) Map[K, V] {
	return Map[K, V]{hash: hash}
}

// Len is the number of entries.
func (m *Map[K, V]) Len() int { return len(m.ents) }

// find returns the index slot holding k, or -1.
func (m *Map[K, V]) find(k K) int {
	if len(m.ents) == 0 {
		return -1
	}
	mask := m.slots() - 1
	for i := int(m.hash(k)) & mask; ; i = (i + 1) & mask {
		p := m.slot(i)
		if p == 0 {
			return -1
		}
		if m.ents[p-1].Key == k {
			return i
		}
	}
}

// Get returns k's value and whether k is present.
func (m *Map[K, V]) Get(k K) (V, bool) {
	if i := m.find(k); i >= 0 {
		return m.ents[m.slot(i)-1].Val, true
	}
	var zero V
	return zero, false
}

// Ptr returns a pointer to k's value, or nil. It is valid until the next Set
// or Delete.
func (m *Map[K, V]) Ptr(k K) *V {
	if i := m.find(k); i >= 0 {
		return &m.ents[m.slot(i)-1].Val
	}
	return nil
}

// Set stores v under k and returns a pointer to the stored value, valid until
// the next Set or Delete.
func (m *Map[K, V]) Set(k K, v V) *V {
	if i := m.find(k); i >= 0 {
		e := &m.ents[m.slot(i)-1]
		e.Val = v
		return &e.Val
	}
	if 4*(len(m.ents)+1) > 3*m.slots() { // load at most 3/4
		m.rehash(max(8, 2*m.slots()))
	}
	if len(m.ents) == cap(m.ents) {
		// Grow by a quarter, not append's doubling: slack is memory.
		m.ents = append(make([]Entry[K, V], 0, len(m.ents)+len(m.ents)/4+4), m.ents...)
	}
	m.ents = append(m.ents, Entry[K, V]{k, v})
	m.place(len(m.ents) - 1)
	return &m.ents[len(m.ents)-1].Val
}

// place indexes the entry at position p.
func (m *Map[K, V]) place(p int) {
	mask := m.slots() - 1
	i := int(m.hash(m.ents[p].Key)) & mask
	for m.slot(i) != 0 {
		i = (i + 1) & mask
	}
	m.setSlot(i, p+1)
}

// rehash rebuilds the index with n slots. Positions fit 16 bits up to 65536
// slots: the map holds at most 3/4 of that before the next rehash.
func (m *Map[K, V]) rehash(n int) {
	m.idx16, m.idx32 = nil, nil
	if n <= 1<<16 {
		m.idx16 = make([]uint16, n)
	} else {
		m.idx32 = make([]uint32, n)
	}
	for p := range m.ents {
		m.place(p)
	}
}

// Delete removes k and returns its value and whether it was present. The last
// entry moves into its place.
func (m *Map[K, V]) Delete(k K) (V, bool) {
	var zero V
	i := m.find(k)
	if i < 0 {
		return zero, false
	}
	p := m.slot(i) - 1
	v := m.ents[p].Val
	m.unindex(i)
	if last := len(m.ents) - 1; p != last {
		m.setSlot(m.find(m.ents[last].Key), p+1)
		m.ents[p] = m.ents[last]
	}
	m.ents[len(m.ents)-1] = Entry[K, V]{} // no stale references for the GC
	m.ents = m.ents[:len(m.ents)-1]
	m.shrink()
	return v, true
}

// unindex empties slot i, shifting back the entries of its probe run that
// would otherwise no longer be found (linear probing without tombstones).
func (m *Map[K, V]) unindex(i int) {
	mask := m.slots() - 1
	for j := (i + 1) & mask; m.slot(j) != 0; j = (j + 1) & mask {
		h := int(m.hash(m.ents[m.slot(j)-1].Key)) & mask
		// The entry at j may move to i unless its home h lies cyclically
		// in (i, j].
		if (i < j && (h <= i || h > j)) || (i > j && h <= i && h > j) {
			m.setSlot(i, m.slot(j))
			i = j
		}
	}
	m.setSlot(i, 0)
}

// shrink gives memory back once the map holds a quarter of what it did.
func (m *Map[K, V]) shrink() {
	n := len(m.ents)
	if n == 0 {
		m.Clear()
		return
	}
	if c := cap(m.ents); c >= 64 && 4*n < c {
		m.ents = append(make([]Entry[K, V], 0, 2*n), m.ents...)
	}
	if s := m.slots(); s >= 64 && 8*n < s {
		m.rehash(s / 4)
	}
}

// Entries returns the entries in iteration order. The slice is the Map's own:
// values may be modified through it, keys must not be, and it is valid until
// the next Set or Delete.
func (m *Map[K, V]) Entries() []Entry[K, V] { return m.ents }

// DeleteFunc deletes every entry for which del returns true and returns how
// many it deleted.
func (m *Map[K, V]) DeleteFunc(del func(K, V) bool) int {
	n := 0
	// Backwards: a delete moves the last entry, already visited, into the hole.
	for p := len(m.ents) - 1; p >= 0; p-- {
		if p < len(m.ents) && del(m.ents[p].Key, m.ents[p].Val) {
			m.Delete(m.ents[p].Key)
			n++
		}
	}
	return n
}

// Clear removes every entry.
func (m *Map[K, V]) Clear() { m.ents, m.idx16, m.idx32 = nil, nil, nil }
