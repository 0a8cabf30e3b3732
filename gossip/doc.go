// Package gossip disseminates Grapevine's replicated catalog between agents, on
// top of hashicorp/memberlist (SWIM membership).
//
// A Node wraps one memberlist instance and a consumer's Store (the catalog).
// Changes travel four ways, fastest first:
//
//  1. Relay trees: Publish sends a local change at once on two trees that
//     span every live member (relay.go): the origin sends it to ⌈√m⌉ relays,
//     each relay to its arc of the ring of members, so every member gets it
//     in two hops, once per tree (2(N−1) messages per change), and a member
//     that died unnoticed costs nobody both copies. A delta that fits one
//     packet goes best-effort (UDP); a bigger one over the reliable channel
//     (TCP). Deltas learned otherwise (piggyback, anti-entropy) that are new
//     here are pushed to Config.Fanout random live peers, which forward them
//     the same way on first receipt (epidemic, about log_fanout(N) hops).
//  2. Piggyback: the origin's deltas also ride memberlist's gossip messages
//     through a TransmitLimitedQueue; a newer window of an origin supersedes
//     (or is coalesced with) the queued older one.
//  3. Anti-entropy: memberlist's push/pull carries our digest only (O(origins));
//     each side then sends the other exactly what it lacks (Store.DeltaSince) as
//     sync messages over the reliable channel, cut at Config.ChunkBytes. The node
//     also exchanges digests with one random peer every Config.SyncInterval.
//  4. Gap repair: a delta beyond a gap (MergeResult.Gap) asks the origin (or the
//     sender) for the missing range, at most once per origin per RepairInterval.
//
// Membership extras: Node.SetMeta replaces the node's memberlist metadata at
// run time, broadcast at most once per Config.MetaInterval (meta.go);
// Node.ForceLeave marks a failed member left everywhere through a gossiped
// message honoured only where SWIM has the member dead (forceleave.go); a
// member whose probe by this node went unanswered is listed StateSuspect until
// a probe succeeds or it is declared dead (suspect.go).
//
// A rejoin loop keeps trying configured seeds and recently failed or departed
// members, so the halves of a healed partition merge without an operator.
// With Config.SecretKeys the traffic is encrypted and authenticated (AES-GCM,
// memberlist's keyring), and the keyring changes live on every member at once
// (Node.Keyring, keyring.go). Everything refused — undecryptable, mislabelled,
// malformed, too large, refused by the Store, over a rate — is counted by
// Reason and logged at warn, rate-limited (reject.go); memberlist's own
// rejections are classified from its log lines. Anti-entropy answers are
// rate-limited per peer and merged records per sender (limit.go). On the real
// network memberlist reads through a guard (guard.go) that applies
// AllowedCIDRs to every packet and stream and caps inbound streams.
//
// # Invariants
//
//   - Every message is one type byte, one protocol-version byte and a msgpack
//     body (docs/protocol.md). Decoders cap the frame (MaxFrame), pre-validate
//     the msgpack (internal/msgpackcheck), validate the result (crdt.Delta.
//     Validate, names, counts) and return an error: bad input never panics,
//     changes nothing and is counted (Stats.Rejected).
//   - What a node sends any one peer in answer to digests and repair requests
//     is bounded by Config.ReplyRate and ReplyBytesRate, whatever it receives.
//   - A relay tree is passed on once per node (its salt is remembered), and a
//     random push only for deltas that were new here: each node sends each
//     change a bounded number of times (plus the origin's piggyback
//     retransmits), whatever it receives.
//   - Push/pull state is a digest, never catalog entries: steady-state traffic
//     does not grow with the number of records.
//
// # Concurrency
//
// All Node methods are safe for concurrent use. memberlist calls the delegate
// from its goroutines; the delegate merges into the Store (which must be safe
// for concurrent use and must not block on the network), sends packets inline
// (non-blocking) and hands reliable sends to a bounded queue served by a few
// worker goroutines. Membership events are queued (unbounded) and delivered to
// Config.Events in order from one goroutine. The Node owns its goroutines
// (event delivery, reliable senders, sync and rejoin loops); Close stops them
// and memberlist, and waits. Graceful order: Leave, then Close.
package gossip
