// Package crdt is Grapevine's replicated state: a delta-state CRDT of versioned
// registers, one set of registers per origin (the node that owns and alone writes
// them).
//
// # Model
//
// Every origin has an epoch (one incarnation of its state; strictly increasing
// across restarts) and a change counter seq within the epoch. Each local change
// (Put or Delete) takes the next seq, so every entry of an origin carries a unique
// seq and all writes to a key are totally ordered: there are never concurrent
// writes, and no wall clock is compared anywhere.
//
// A replica tracks per origin the highest contiguous seq it holds (applied), a few
// non-contiguous ranges it holds beyond that (pending), and a GC floor: tombstones
// with seq <= floor may have been dropped.
//
// # Deltas are windows
//
// A Delta carries an origin, an epoch, a window [From, To] of seqs and entries.
// Its contract: the entries with From <= Seq <= To are exactly the entries the
// sender holds in that window; entries with Seq > To may ride along. A seq in the
// window without an entry was superseded by a later change to the same key, or
// was a deletion whose tombstone the sender has collected. So a replica that merges
// a window it is contiguous with can drop whatever it holds in the window that the
// sender does not, and no collected tombstone can let a deleted key come back.
//
// A "snapshot" is nothing special: it is a window that starts at 1, sent when the
// asking peer is below the sender's GC floor or on an older epoch. A window with
// From == 0 (and To == 0) claims nothing and is merged key by key.
//
// # Laws
//
// Merge is a join: commutative, associative and idempotent over the set of deltas a
// replica has seen; a newer epoch of an origin replaces everything of the older
// one, and deltas of an older epoch are ignored. DeltaSince(digest) yields exactly
// what a peer with that digest lacks, chunked under a byte budget, highest seqs
// first so a later chunk never removes what an earlier one brought.
//
// # Purity and concurrency
//
// The package uses the standard library and internal/densemap (the compact
// table its records live in) only, and does no I/O, starts no goroutines, reads
// no clock and draws no random numbers (densemap's hash seed is random, as a
// Go map's is, and changes no result: its iteration order follows the
// operations, not the hashes). A State is not safe for
// concurrent use; its owner serializes access. Values handed to Put and received in
// deltas are treated as immutable and are shared, not copied.
package crdt
