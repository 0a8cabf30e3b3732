package gossip

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"

	"github.com/grapevine-sd/grapevine/crdt"
	"github.com/vmihailenco/msgpack/v5"
)

// Relay trees: how a local change reaches every member (docs/protocol.md,
// "relay").
//
// The origin sends a change on relayTrees trees. For each, it draws a random
// salt and orders its live peers on a ring by relayKey(salt, name), starting
// after its own key; it cuts the ring into ⌈√m⌉ arcs of consecutive members
// (m peers) and sends the change to the first member of each arc together with
// the key where the arc ends (limit). A member receiving a relay message sends
// it on to every live member it knows whose key lies between its own key and
// the limit, each with the key of the next one as limit — so those have
// nothing to pass on, unless they know a member the sender does not, which
// they then reach. So:
//
//   - a change reaches every member in two hops, with m messages per tree:
//     each member receives it once per tree, instead of about ln N + 5 times
//     by random push (each copy costs the receiver a packet's decryption,
//     decoding and merge — on a loaded host, the dominant cost);
//   - no node sends more than about √N copies of one change per tree, the
//     origin about 2√N in all, whatever N is;
//   - the salt is new for every tree of every change, so relays rotate and
//     the two trees of one change are independent: one lost packet, or a
//     relay that died and is not yet detected by SWIM, costs a member at most
//     one of its two copies. What both miss is repaired by the origin's
//     piggyback, anti-entropy (SyncInterval) and gap repair on the next
//     change.
//
// A relay passes a tree on once, and only for the newest change it has seen
// on a tree of that origin: it remembers the last relayRemembered salts and
// drops a repeated one (network duplicates, a replayed packet), and it drops
// a tree of an older change of the origin than one it already passed on. So
// a message never causes its ~√N sends twice, and a packet replayed by an
// outsider (memberlist's encryption does not stop replays) long after its
// salt was forgotten still causes none unless it is its origin's newest.

const (
	// relayTrees is how many independent trees carry each local change.
	relayTrees = 2
	// relayRemembered is how many tree salts a node remembers having passed on.
	relayRemembered = 4096
	// relayOrigins bounds the origins whose newest relayed change a node
	// remembers; beyond it the memory starts over (origins are members, and
	// only key holders can name them).
	relayOrigins = 1 << 16
)

// relayKey places a node on the ring of the tree with salt: FNV-1a over the
// salt and the name, then a 64-bit finalizer so that names differing in one
// character land far apart.
func relayKey(salt uint64, name string) uint64 {
	const prime = 1099511628211
	h := uint64(14695981039346656037)
	for i := range 8 {
		h ^= (salt >> (8 * i)) & 0xff
		h *= prime
	}
	for i := 0; i < len(name); i++ {
		h ^= uint64(name[i])
		h *= prime
	}
	h ^= h >> 33
	h *= 0xff51afd7ed558ccd
	h ^= h >> 33
	h *= 0xc4ceb9fe1a85ec53
	h ^= h >> 33
	return h
}

// relayed remembers the trees this node passed on: their salts, and the
// newest change of each origin.
type relayed struct {
	mu     sync.Mutex
	set    map[uint64]struct{}
	ring   [relayRemembered]uint64
	next   int
	newest map[string]crdt.Position // origin → epoch and window end
}

// pass reports whether the tree salt of origin's change (epoch, to) is to be
// passed on: a salt not seen before, and a change not older than the newest
// of the origin passed on. It records both.
func (r *relayed) pass(salt uint64, origin string, epoch, to uint64) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.set == nil {
		r.set = make(map[uint64]struct{}, relayRemembered)
	}
	if _, ok := r.set[salt]; ok {
		return false
	}
	if n, ok := r.newest[origin]; ok && (epoch < n.Epoch || epoch == n.Epoch && to < n.Applied) {
		return false
	}
	if r.newest == nil || len(r.newest) >= relayOrigins {
		r.newest = make(map[string]crdt.Position)
	}
	r.newest[origin] = crdt.Position{Epoch: epoch, Applied: to}
	if len(r.set) >= relayRemembered {
		delete(r.set, r.ring[r.next])
	}
	r.set[salt] = struct{}{}
	r.ring[r.next] = salt
	r.next = (r.next + 1) % relayRemembered
	return true
}

// relayBody is a msgRelay: [from, salt, limit, delta]. Salt and limit are
// always encoded as 9-byte msgpack uint64 (encodeRelay), so a sender patches
// the limit in place for each recipient.
type relayBody struct {
	//lint:ignore U1000 msgpack reads its options from this field by reflection
	_msgpack struct{} `msgpack:",as_array"`
	From     string
	Salt     uint64
	Limit    uint64
	Delta    wireDelta
}

// relayMsg is a decoded msgRelay.
type relayMsg struct {
	From  string
	Salt  uint64 // the tree
	Limit uint64 // the key where the receiver's part of the tree ends
	Delta crdt.Delta
}

// relayFrame is an encoded msgRelay whose limit can be rewritten in place.
type relayFrame struct {
	msg     []byte
	limitAt int
}

func (f relayFrame) withLimit(limit uint64) []byte {
	binary.BigEndian.PutUint64(f.msg[f.limitAt:], limit)
	return f.msg
}

// encodeRelay encodes a delta as a msgRelay from node from on the tree salt.
func encodeRelay(from string, salt, limit uint64, d crdt.Delta) (relayFrame, error) {
	name, err := msgpack.Marshal(from)
	if err != nil {
		return relayFrame{}, fmt.Errorf("gossip: encode relay: %w", err)
	}
	delta, err := msgpack.Marshal(toWire(d))
	if err != nil {
		return relayFrame{}, fmt.Errorf("gossip: encode relay: %w", err)
	}
	const uint64Code = 0xcf
	out := make([]byte, 0, headerLen+1+len(name)+18+len(delta))
	out = append(out, byte(msgRelay), ProtocolVersion, 0x94)
	out = append(out, name...)
	out = append(out, uint64Code)
	out = binary.BigEndian.AppendUint64(out, salt)
	out = append(out, uint64Code)
	at := len(out)
	out = binary.BigEndian.AppendUint64(out, limit)
	out = append(out, delta...)
	return relayFrame{msg: out, limitAt: at}, nil
}

// decodeRelay decodes and validates a msgRelay.
func decodeRelay(b []byte) (relayMsg, error) {
	var body relayBody
	if err := unmarshal(b, msgRelay, &body); err != nil {
		return relayMsg{}, err
	}
	if err := checkName("from", body.From); err != nil {
		return relayMsg{}, err
	}
	d, err := fromWire(body.Delta)
	if err != nil {
		return relayMsg{}, err
	}
	return relayMsg{From: body.From, Salt: body.Salt, Limit: body.Limit, Delta: d}, nil
}

// relayRoot sends a local change on the trees rootTrees draws.
func (n *Node) relayRoot(d crdt.Delta) {
	cands := n.relayCands("", d.Origin, nil)
	for _, t := range rootTrees(cands, n.cfg.Name) {
		n.relaySend(d, t.salt, t.targets)
	}
}

// relayTree is one tree of a local change: its salt and the root's targets.
type relayTree struct {
	salt    uint64
	targets []relayTarget
}

// rootTrees draws the relayTrees trees of a local change from self to cands:
// a random salt each, and the relays of the earlier trees are avoided as
// relays of the later ones. So, with consistent views, one member that died
// unnoticed is a relay on one tree at most and no live member misses both of
// its copies.
func rootTrees(cands []string, self string) []relayTree {
	out := make([]relayTree, 0, relayTrees)
	avoid := map[string]bool{}
	for range relayTrees {
		salt := rand.Uint64()
		ts := relayTargets(cands, self, salt, relayKey(salt, self), true, avoid)
		for _, t := range ts {
			avoid[t.name] = true
		}
		out = append(out, relayTree{salt, ts})
	}
	return out
}

// onRelay merges a relay message's delta and, the first time this node sees
// the tree (of its origin's newest change), passes it on to its part of the
// tree.
func (n *Node) onRelay(m relayMsg) {
	res, ok := n.take(m.From, m.Delta)
	if !ok {
		return
	}
	if n.relayed.pass(m.Salt, m.Delta.Origin, m.Delta.Epoch, m.Delta.To) {
		n.relay(m.Delta, m.Salt, m.From, m.Limit)
	}
	if res.Gap {
		n.repair(m.Delta.Origin, m.From)
	}
}

// relay sends d on the tree salt to its part of the tree (relayTargets), each
// recipient with its own limit.
func (n *Node) relay(d crdt.Delta, salt uint64, from string, limit uint64) {
	// Only the members relayTargets can return (about √N of them), so a
	// relay allocates O(√N), not a copy of the member list.
	cands := n.relayCands(from, d.Origin, relayWithin(n.cfg.Name, salt, limit))
	n.relaySend(d, salt, relayTargets(cands, n.cfg.Name, salt, limit, false, nil))
}

// relayWithin reports whether a member's key on the tree salt lies strictly
// between self's key and limit, the whole ring when limit is self's key: the
// members relayTargets can return to a relay (not the root).
func relayWithin(self string, salt, limit uint64) func(name string) bool {
	own := relayKey(salt, self)
	span := limit - own
	return func(name string) bool {
		dist := relayKey(salt, name) - own
		return dist != 0 && (span == 0 || dist < span)
	}
}

// relayCands returns the names of the live members other than this node, the
// sender and the origin, for which keep (if set) holds. It walks the member
// names without copying them: every member receives every change, so this
// runs N times per change, and with a thousand members a copy of the member
// list each time was most of the cluster's CPU while they started.
func (n *Node) relayCands(from, origin string, keep func(name string) bool) []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	var out []string
	for _, name := range n.names {
		if name == n.cfg.Name || name == from || name == origin {
			continue
		}
		if keep == nil || keep(name) {
			out = append(out, name)
		}
	}
	return out
}

// relaySend sends d on the tree salt to targets (a target that left
// meanwhile is skipped).
func (n *Node) relaySend(d crdt.Delta, salt uint64, ts []relayTarget) {
	if len(ts) == 0 {
		return
	}
	f, err := encodeRelay(n.cfg.Name, salt, 0, d)
	if err != nil {
		n.log.Error().Err(err).Str("origin", d.Origin).Msg("encode relay")
		return
	}
	for _, t := range ts {
		to := n.member(t.name)
		if to == nil {
			continue
		}
		msg := f.withLimit(t.limit)
		if len(msg) <= n.budget {
			n.sendPacket(to, msgRelay, msg) // memberlist copies msg
		} else {
			n.sendReliable(t.name, msgRelay, slices.Clone(msg))
		}
	}
}

// relayTarget is one recipient of a relay message and the limit it gets.
type relayTarget struct {
	name  string
	limit uint64
}

// relayTargets returns where node self, on the tree salt, sends a relay
// message whose limit is limit: the candidates (live members other than self,
// the sender and the origin) whose keys lie strictly between self's key and
// limit on the ring — all of them when limit is self's own key — in ring
// order. Any node but the root returns each of them. The root cuts them into
// ⌈√m⌉ arcs and returns the first member of each, moving an arc's start past
// members in avoid (the relays of its other trees) when the arc has another;
// members ahead of the first arc's start are returned as well. Every target's
// limit is the key of the next target (or limit).
func relayTargets(cands []string, self string, salt, limit uint64, root bool, avoid map[string]bool) []relayTarget {
	own := relayKey(salt, self)
	span := limit - own // ring distance; 0: the whole ring
	type keyed struct {
		name string
		dist uint64 // from own, along the ring
	}
	ks := make([]keyed, 0, len(cands))
	for _, name := range cands {
		dist := relayKey(salt, name) - own
		if dist == 0 || (span != 0 && dist >= span) {
			continue
		}
		ks = append(ks, keyed{name, dist})
	}
	slices.SortFunc(ks, func(a, b keyed) int {
		switch {
		case a.dist < b.dist:
			return -1
		case a.dist > b.dist:
			return 1
		}
		return strings.Compare(a.name, b.name)
	})
	// starts are the indexes of ks that get the message.
	var starts []int
	if !root {
		starts = make([]int, len(ks))
		for i := range starts {
			starts[i] = i
		}
	} else if len(ks) > 0 {
		c := int(math.Ceil(math.Sqrt(float64(len(ks))))) // arcs
		arc := (len(ks) + c - 1) / c
		for i := 0; i < len(ks); i += arc {
			end := min(i+arc, len(ks))
			p := i
			for p < end && avoid[ks[p].name] {
				p++
			}
			if p == end {
				p = i // every member of the arc is avoided
			}
			if i == 0 {
				for j := range p {
					starts = append(starts, j) // ahead of the first arc
				}
			}
			starts = append(starts, p)
		}
	}
	out := make([]relayTarget, 0, len(starts))
	for j, i := range starts {
		next := limit
		if j+1 < len(starts) {
			next = own + ks[starts[j+1]].dist
		}
		out = append(out, relayTarget{ks[i].name, next})
	}
	return out
}
