package gossip

import (
	"sync/atomic"
	"time"
)

// Counter counts messages and their bytes.
type Counter struct {
	Messages uint64
	Bytes    uint64
}

// Stats are the node's cumulative message counters since New. The maps are
// keyed by message kind: "push", "sync", "digest", "repair", "sum", ...
// (every kind of docs/protocol.md, zero included). Bytes are this
// package's message bytes, before memberlist's framing, encryption or
// compression; memberlist's own probes and membership gossip are not counted.
type Stats struct {
	Sent     map[string]Counter
	Received map[string]Counter
	Fresh    uint64 // pushed or relayed deltas that brought something new
	Invalid  uint64 // rejections of every reason: the sum of Rejected
	Dropped  uint64 // sends that failed or found their queue full or their peer gone
	Rejoins  uint64 // nodes contacted successfully by the rejoin loop
	// SumsEqual counts the peers' digest sums (Received["sum"]) that equaled
	// this node's: anti-entropy rounds that needed no digest.
	SumsEqual uint64
	// Rejected counts rejections by reason (Reason names; every reason
	// present, zero included): undecryptable or malformed input, deltas the
	// Store refused, rate limits.
	Rejected map[string]uint64
	// ProbeRTT is the distribution of round trips of successful SWIM probes.
	ProbeRTT Histogram
	// Network counts what crossed the real network, memberlist's own probes
	// and gossip and the encryption included: UDP packets and their bytes,
	// TCP streams dialled and accepted. Zero on another Transport (sim).
	Network NetworkCounters
	// HealthScore is memberlist's local health (Lifeguard's awareness): 0 is
	// healthy; it grows while this node misses acks and refutes suspicions
	// about itself, i.e. while the node itself, not its peers, is degraded.
	HealthScore int
}

// NetworkCounters count UDP packets and bytes each way and TCP streams.
type NetworkCounters struct {
	PacketsSent, PacketsReceived uint64
	BytesSent, BytesReceived     uint64
	StreamsOpened                uint64 // dialled by this node
	StreamsAccepted              uint64 // accepted from peers, before the guard's checks
}

// RTTBuckets are the upper bounds of Histogram's buckets.
var RTTBuckets = [...]time.Duration{
	250 * time.Microsecond, 500 * time.Microsecond, time.Millisecond, 2 * time.Millisecond,
	5 * time.Millisecond, 10 * time.Millisecond, 25 * time.Millisecond, 50 * time.Millisecond,
	100 * time.Millisecond, 250 * time.Millisecond, 500 * time.Millisecond, time.Second,
}

// Histogram counts durations: Counts[i] those ≤ RTTBuckets[i] and above the
// previous bound (not cumulative), the last those above every bound; Count all
// of them, Sum their total.
type Histogram struct {
	Counts []uint64
	Count  uint64
	Sum    time.Duration
}

type histogram struct {
	counts     [len(RTTBuckets) + 1]atomic.Uint64 // the last: above every bound
	count, sum atomic.Uint64
}

func (h *histogram) observe(d time.Duration) {
	i := 0
	for i < len(RTTBuckets) && d > RTTBuckets[i] {
		i++
	}
	h.counts[i].Add(1)
	h.count.Add(1)
	h.sum.Add(uint64(d))
}

func (h *histogram) snapshot() Histogram {
	out := Histogram{Counts: make([]uint64, len(h.counts)), Count: h.count.Load(), Sum: time.Duration(h.sum.Load())}
	for i := range h.counts {
		out.Counts[i] = h.counts[i].Load()
	}
	return out
}

type stats struct {
	sentMsgs, sentBytes [msgLimit]atomic.Uint64
	recvMsgs, recvBytes [msgLimit]atomic.Uint64
	fresh               atomic.Uint64
	dropped, rejoins    atomic.Uint64
	sumsEqual           atomic.Uint64
	rtt                 histogram
}

func (s *stats) sent(t msgType, n int) {
	if t < msgLimit {
		s.sentMsgs[t].Add(1)
		s.sentBytes[t].Add(uint64(n))
	}
}

func (s *stats) received(t msgType, n int) {
	if t < msgLimit {
		s.recvMsgs[t].Add(1)
		s.recvBytes[t].Add(uint64(n))
	}
}

// Stats returns a snapshot of the counters.
func (n *Node) Stats() Stats {
	s := &n.stats
	out := Stats{
		Sent:      make(map[string]Counter, msgLimit-1),
		Received:  make(map[string]Counter, msgLimit-1),
		Fresh:     s.fresh.Load(),
		Invalid:   0, // the sum of Rejected, below
		Dropped:   s.dropped.Load(),
		Rejoins:   s.rejoins.Load(),
		SumsEqual: s.sumsEqual.Load(),
		Rejected:  n.rejects.snapshot(),
		ProbeRTT:  s.rtt.snapshot(),
	}
	for _, v := range out.Rejected {
		out.Invalid += v
	}
	if ml := n.ml.Load(); ml != nil {
		out.HealthScore = ml.GetHealthScore()
	}
	if n.net != nil {
		out.Network = n.net.counts.snapshot()
	}
	for t := msgType(1); t < msgLimit; t++ {
		out.Sent[t.String()] = Counter{s.sentMsgs[t].Load(), s.sentBytes[t].Load()}
		out.Received[t.String()] = Counter{s.recvMsgs[t].Load(), s.recvBytes[t].Load()}
	}
	return out
}
