package catalog

import "github.com/grapevine-sd/grapevine/crdt"

// Stats are the catalog's counts, for /v1/agent/self and metrics.
type Stats struct {
	Node         string            `json:"node"`
	Epoch        uint64            `json:"epoch"`
	Index        uint64            `json:"index"`     // global change index
	Instances    int               `json:"instances"` // decoded records held, all origins
	Local        int               `json:"local"`     // own registrations
	Services     int               `json:"services"`  // services with a held record
	Origins      int               `json:"origins"`
	Stale        int               `json:"stale"`      // records served stale
	Expired      int               `json:"expired"`    // records held but not served by default
	Tombstones   int               `json:"tombstones"` // across origins
	Invalid      uint64            `json:"invalid"`    // records from the network that failed to decode
	Hash         uint64            `json:"hash"`       // crdt.State.Hash: equal on converged replicas
	Digest       crdt.Digest       `json:"digest"`
	Preservation PreservationState `json:"preservation"`
}

// Stats returns the current counts. It walks the origins (O(origins)), not the
// records.
func (c *Catalog) Stats() Stats {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := Stats{
		Node:         c.cfg.Node,
		Epoch:        c.state.Position(c.cfg.Node).Epoch,
		Index:        c.index.Load(),
		Local:        len(c.local),
		Services:     len(c.byService),
		Invalid:      c.invalid,
		Hash:         c.state.Hash(),
		Digest:       c.state.Digest(),
		Preservation: c.lease.preserve,
	}
	for name := range c.state.Origins() {
		s.Origins++
		s.Tombstones += c.state.Tombstones(name)
		n := c.origins.records(name)
		s.Instances += n
		switch ph, _ := c.phaseOf(name); ph {
		case phaseStale:
			s.Stale += n
		case phaseExpired, phaseWithdrawn:
			s.Expired += n
		}
	}
	return s
}

// Fingerprint is the part of Stats an agent publishes every tick (and the
// simulator samples from every node): the state hash, the origin and record
// counts, and whether self-preservation holds.
type Fingerprint struct {
	Hash       uint64
	Origins    int
	Instances  int
	Preserving bool
}

// Fingerprint returns those fields as Stats would, without Stats' copy of the
// digest and per-origin tombstone and phase reads: one map read per origin, no
// allocation. At a thousand origins, called every second by every agent, the
// difference is most of the agent's idle CPU.
func (c *Catalog) Fingerprint() Fingerprint {
	c.mu.Lock()
	defer c.mu.Unlock()
	f := Fingerprint{Hash: c.state.Hash(), Preserving: c.lease.preserve.Active}
	for name := range c.state.Origins() {
		f.Origins++
		f.Instances += c.origins.records(name)
	}
	return f
}
