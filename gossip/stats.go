package gossip

import "sync/atomic"

// Counter counts messages and their bytes.
type Counter struct {
	Messages uint64
	Bytes    uint64
}

// Stats are the node's cumulative message counters since New. The maps are
// keyed by message kind: "push", "sync", "digest", "repair". Bytes are this
// package's message bytes, before memberlist's framing, encryption or
// compression; memberlist's own probes and membership gossip are not counted.
type Stats struct {
	Sent     map[string]Counter
	Received map[string]Counter
	Fresh    uint64 // pushed deltas that brought something new (and were forwarded)
	Invalid  uint64 // messages or deltas rejected (undecodable, invalid, refused by the Store)
	Dropped  uint64 // sends that failed or found their queue full or their peer gone
	Rejoins  uint64 // nodes contacted successfully by the rejoin loop
}

type stats struct {
	sentMsgs, sentBytes [msgLimit]atomic.Uint64
	recvMsgs, recvBytes [msgLimit]atomic.Uint64
	fresh, invalid      atomic.Uint64
	dropped, rejoins    atomic.Uint64
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
		Sent:     make(map[string]Counter, msgLimit-1),
		Received: make(map[string]Counter, msgLimit-1),
		Fresh:    s.fresh.Load(),
		Invalid:  s.invalid.Load(),
		Dropped:  s.dropped.Load(),
		Rejoins:  s.rejoins.Load(),
	}
	for t := msgType(1); t < msgLimit; t++ {
		out.Sent[t.String()] = Counter{s.sentMsgs[t].Load(), s.sentBytes[t].Load()}
		out.Received[t.String()] = Counter{s.recvMsgs[t].Load(), s.recvBytes[t].Load()}
	}
	return out
}
