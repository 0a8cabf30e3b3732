// Package gossiptest provides helpers for testing code built on package gossip:
// MemStore, an in-memory gossip.Store around a crdt.State.
package gossiptest

import (
	"sync"

	"github.com/grapevine-sd/grapevine/crdt"
)

// MemStore is a gossip.Store: a mutex around a *crdt.State. Safe for concurrent
// use. The zero value is not usable; call NewMemStore.
type MemStore struct {
	mu sync.Mutex // guards st
	st *crdt.State
}

// NewMemStore returns a store whose own origin is self at epoch (>= 1).
func NewMemStore(self string, epoch uint64) *MemStore {
	return &MemStore{st: crdt.New(self, epoch)}
}

// Put sets key of the own origin and returns the delta to publish.
func (s *MemStore) Put(key string, value []byte) crdt.Delta {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.st.Put(key, value)
}

// Delete tombstones key of the own origin; ok is false if it held no value.
func (s *MemStore) Delete(key string) (crdt.Delta, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.st.Delete(key)
}

// Merge applies a peer's delta.
func (s *MemStore) Merge(d crdt.Delta) (crdt.MergeResult, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.st.Merge(d)
}

// Digest returns the replica's digest.
func (s *MemStore) Digest() crdt.Digest {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.st.Digest()
}

// DeltaSince returns what a peer with digest peer lacks.
func (s *MemStore) DeltaSince(peer crdt.Digest, budget int) []crdt.Delta {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.st.DeltaSince(peer, budget)
}

// DeltaSinceOrigin returns what a peer at have lacks of origin.
func (s *MemStore) DeltaSinceOrigin(origin string, have crdt.Position, budget int) []crdt.Delta {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.st.DeltaSinceOrigin(origin, have, budget)
}

// Hash is the replica's content hash.
func (s *MemStore) Hash() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.st.Hash()
}

// Len is the number of live entries.
func (s *MemStore) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.st.Len()
}

// Position is the replica's position for origin.
func (s *MemStore) Position(origin string) crdt.Position {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.st.Position(origin)
}
