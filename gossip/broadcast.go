package gossip

import (
	"github.com/grapevine-sd/grapevine/crdt"
	"github.com/hashicorp/memberlist"
)

// deltaBroadcast is one delta riding memberlist's gossip (piggyback).
type deltaBroadcast struct {
	n   *Node
	d   crdt.Delta
	msg []byte
}

var _ memberlist.Broadcast = (*deltaBroadcast)(nil)

// Invalidates reports whether b supersedes a queued broadcast: same origin and a
// newer epoch, or the same epoch and a window covering the other's.
func (b *deltaBroadcast) Invalidates(other memberlist.Broadcast) bool {
	o, ok := other.(*deltaBroadcast)
	if !ok || o.d.Origin != b.d.Origin {
		return false
	}
	if b.d.Epoch != o.d.Epoch {
		return b.d.Epoch > o.d.Epoch
	}
	return b.d.From != 0 && o.d.From != 0 && b.d.From <= o.d.From && o.d.To <= b.d.To
}

func (b *deltaBroadcast) Message() []byte { return b.msg }

// Finished is called by the queue (with its lock held) when b is sent enough
// times or superseded.
func (b *deltaBroadcast) Finished() {
	b.n.mu.Lock()
	if b.n.lastQueued[b.d.Origin] == b {
		delete(b.n.lastQueued, b.d.Origin)
	}
	b.n.mu.Unlock()
}

// queueBroadcast queues d for piggyback. A delta continuing the window of the
// origin's queued one is coalesced with it into one window (keys rewritten by d
// keep only d's entry, as the window contract requires), which supersedes the
// queued one; a delta that does not fit one packet is not queued (eager push
// and anti-entropy carry it).
func (n *Node) queueBroadcast(d crdt.Delta) {
	n.mu.Lock()
	if last := n.lastQueued[d.Origin]; last != nil {
		if c, ok := coalesce(last.d, d); ok && c.Size()+headerLen+maxNameLen/4 <= n.budget {
			d = c
		}
	}
	msg, err := encodePush(n.cfg.Name, d)
	if err != nil || len(msg) > n.budget {
		n.mu.Unlock()
		return
	}
	b := &deltaBroadcast{n: n, d: d, msg: msg}
	n.lastQueued[d.Origin] = b
	n.mu.Unlock()

	n.bq.QueueBroadcast(b) // calls Finished of superseded broadcasts: not under n.mu
	if n.bq.NumQueued() > maxBroadcasts {
		n.bq.Prune(maxBroadcasts)
	}
}

// coalesce joins two windows of one origin and epoch when b starts right after
// a ends: the result's window is [a.From, b.To] with a's entries minus the keys
// b rewrites, then b's entries.
func coalesce(a, b crdt.Delta) (crdt.Delta, bool) {
	if a.Origin != b.Origin || a.Epoch != b.Epoch || a.From == 0 || b.From == 0 || a.To+1 != b.From {
		return crdt.Delta{}, false
	}
	for _, e := range a.Entries {
		if e.Seq > a.To {
			return crdt.Delta{}, false // extras beyond the window: keep it simple
		}
	}
	rewritten := make(map[string]bool, len(b.Entries))
	for _, e := range b.Entries {
		rewritten[e.Key] = true
	}
	c := crdt.Delta{Origin: a.Origin, Epoch: a.Epoch, From: a.From, To: b.To, Floor: max(a.Floor, b.Floor)}
	c.Entries = make([]crdt.Entry, 0, len(a.Entries)+len(b.Entries))
	for _, e := range a.Entries {
		if !rewritten[e.Key] {
			c.Entries = append(c.Entries, e)
		}
	}
	c.Entries = append(c.Entries, b.Entries...)
	return c, true
}
