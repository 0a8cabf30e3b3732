// Package catalog is Grapevine's registry domain over the crdt: service
// instances and their health, the replicated Catalog (one crdt.State plus
// indexes, queries, watches), leases tied to membership, and the local
// registrations of this agent with their persistence.
//
// # Model
//
// An Instance is identified by (Node, ID). Node is the crdt origin that owns the
// record and is its only writer; ID is the crdt key; the value is a compact
// msgpack encoding of the rest (see codec.go). Only the owner writes its
// records (Register, Deregister, SetHealth, SetMaintenance); every other
// record arrives through Merge. A record from the network that fails to
// decode or validate is ignored and counted; it never reaches a query.
//
// # Leases
//
// Records live as long as their owner does, as membership reports it
// (MemberAlive, MemberLeft, MemberFailed; Tick advances time). The rules are
// one pure state machine, the lease table (lease.go: time passed in, events
// returned, no lock or I/O), which the Catalog drives and whose events it
// applies:
//
//	alive                    → served fresh
//	failed, < LeaseGrace     → served, flagged Stale with Age
//	failed, ≥ LeaseGrace     → expired: not served, except stale-over-empty
//	                           while younger than StaleMaxAge
//	left                     → withdrawn at once
//	failed/left ≥ ReapAfter  → reaped (dropped from the replica)
//
// Self-preservation holds failed origins' records stale (no expiry) when a
// large share of origins fails at once, until they recover or
// PreservationMax passes. Records of an origin the catalog has no membership
// news of (no event, not in the live member list, no peer's departure report)
// are not merged: they wait in quarantine for UnknownGrace, then are dropped.
//
// # Epochs
//
// The own origin's epoch has random low bits (unique per incarnation), never
// decreases, and is rebased above any newer or divergent incarnation of itself
// a peer shows. Peers' epochs more than MaxEpochAhead ahead of the clock are
// rejected; a reaped origin's epoch is kept as a floor for FloorMemory. See
// docs/protocol.md.
//
// # Invariants
//
//   - Views are immutable; a query reads one view and never sees a half-applied
//     change. A service's Index grows with every visible change to it.
//   - The own origin's epoch is persisted before use and never decreases.
//   - An acknowledged API registration is on disk (appended to
//     registrations.log and fsynced) before it is applied, and applied before
//     it is acknowledged.
//
// # Concurrency
//
// A Catalog is safe for concurrent use. One mutex (mu) guards the crdt state,
// records, leases and local registrations; writes, Merge, Tick and membership
// calls take it briefly and never do I/O of any kind under it. Local changes
// are queued under mu and written by one flusher at a time with mu released
// (group commit, groupcommit.go); a rebase persists its epoch under emu, taken
// before mu and never under it. See docs/catalog.md, "Locks". Queries by service (Service,
// Services, Index, Wait) read an atomically swapped snapshot without the lock.
// The publisher set by SetPublisher is called outside the lock. The Catalog
// starts no goroutines; Close wakes waiters and closes subscriptions.
package catalog
