// Package simnet is an in-memory network on which many real memberlist instances
// run in one process: each node gets a *Transport (a memberlist.NodeAwareTransport)
// bound to a unique "ip:port", and the *Network between them applies latency,
// jitter, loss, duplication, bandwidth caps, partitions, one-way cuts, flapping
// links, crashes and pauses, all changeable at runtime.
//
// # Model
//
// Packets (memberlist's UDP path) are copied at WriteTo and delivered into the
// receiver's buffered inbox after a latency drawn from the link's distribution,
// by time.AfterFunc. Sends never block: a full inbox drops the packet, like a full
// socket buffer. Reordering falls out of jitter. Each duplicate draws its own
// latency. Reachability is checked both at send and at delivery, so a partition
// also loses the packets in flight across it.
//
// Streams (memberlist's TCP path) are net.Pipe pairs wrapped to report TCP
// addresses. Establishment costs one round trip of the link latency; a dial to a
// down, crashed, partitioned or cut address fails after that round trip (or, with
// Config.DialBlackhole, after the dial timeout, like dropped SYNs), never hangs.
// Partitioning, cutting or crashing closes both ends of every stream that can no
// longer carry traffic. Data on an open stream has no latency or loss (TCP is
// reliable; memberlist's streams are short request/response exchanges).
//
// # Invariants
//
//   - Every random choice comes from one math/rand/v2 PCG source seeded by
//     Config.Seed and guarded by the network mutex. The sequence of draws is
//     reproducible for a given order of calls; the order in which memberlist's
//     goroutines call in is not, so runs are not bit-for-bit deterministic.
//   - A packet sent to an incarnation of a node is never delivered to a later
//     incarnation (Crash and a new Transport on the same address bump an epoch).
//   - No goroutine is started except by time.AfterFunc (one per delivery or flap
//     toggle, ending at once) and by the caller's own calls; nothing blocks on anything but channels
//     and timers, so the package works inside testing/synctest bubbles (create the
//     Network inside the bubble).
//
// # Concurrency
//
// All methods of Network and Transport are safe for concurrent use. One mutex
// (Network.mu) guards all state; it is never held across a blocking operation.
// Close and Transport.Shutdown are idempotent.
package simnet
