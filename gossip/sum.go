package gossip

import (
	"time"

	"github.com/hashicorp/memberlist"
)

// Sums: the periodic anti-entropy round (syncLoop) used to send a whole
// digest, O(origins), over a stream every SyncInterval, and the peer its own
// back, even when the two were equal, as they are in a quiet cluster most of
// the time. Now a round sends the digest's 64-bit sum in one packet; the peer
// compares it with the sum of its own digest and answers with its digest
// (asking for ours) only when they differ, which starts the same exchange a
// digest did. Equal digests are exactly the case in which that exchange moves
// nothing: no deltas, no departures (sent only for origins the peer is
// behind on), nothing for CheckSelf. A lost sum loses one round, so every
// FullSyncEvery-th round still sends the digest reliably: a node whose
// packets are lost but whose streams work (a UDP-hostile path) still repairs
// within that many rounds.

// delegateProtocolSums is the delegate protocol maximum (memberlist's
// DelegateProtocolMax, carried in every alive message) of a node that
// understands msgSum. The current version (DelegateProtocolVersion) stays 0:
// memberlist refuses a member whose current version is outside every other
// member's range, and agents before sums advertise the range [0, 0]. Sums go
// only to members that advertise this maximum; older ones get digests.
const delegateProtocolSums = 1

// DigestSummer is a Store that computes its digest's sum without building
// the digest (catalog.Catalog does); other Stores' sums are Digest().Sum().
type DigestSummer interface {
	DigestSum() uint64
}

// sumBody is a msgSum: [from, sum].
type sumBody struct {
	//lint:ignore U1000 msgpack reads its options from this field by reflection
	_msgpack struct{} `msgpack:",as_array"`
	From     string
	Sum      uint64
}

// sumMsg is a decoded msgSum.
type sumMsg struct {
	From string
	Sum  uint64
}

func encodeSum(from string, sum uint64) ([]byte, error) {
	return encode(msgSum, sumBody{From: from, Sum: sum})
}

// decodeSum decodes and validates a msgSum.
func decodeSum(b []byte) (sumMsg, error) {
	var body sumBody
	if err := unmarshal(b, msgSum, &body); err != nil {
		return sumMsg{}, err
	}
	if err := checkName("from", body.From); err != nil {
		return sumMsg{}, err
	}
	return sumMsg{From: body.From, Sum: body.Sum}, nil
}

// digestSum is the sum of the Store's current digest.
func (n *Node) digestSum() uint64 {
	if s, ok := n.store.(DigestSummer); ok {
		return s.DigestSum()
	}
	return n.store.Digest().Sum()
}

// syncRound is one anti-entropy round with peer: its sum in a packet, or
// (every FullSyncEvery-th round, and to a peer that does not understand
// sums) the digest over a stream, asking for the peer's in return.
func (n *Node) syncRound(peer *memberlist.Node, round int) {
	full := n.cfg.FullSyncEvery <= 1 || round%n.cfg.FullSyncEvery == 0 || peer.DMax < delegateProtocolSums || n.cfg.noSums
	if full {
		n.sendDigest(peer.Name, true)
		return
	}
	msg, err := encodeSum(n.cfg.Name, n.digestSum())
	if err != nil {
		n.log.Error().Err(err).Msg("encode sum")
		return
	}
	n.sendPacket(peer, msgSum, msg)
}

// onSum answers a peer's sum: nothing when it equals ours, else our digest,
// asking for the peer's (the exchange a digest starts).
func (n *Node) onSum(m sumMsg) {
	if m.From == n.cfg.Name || !n.answer(m.From, msgSum) {
		return
	}
	if m.Sum == n.digestSum() {
		n.stats.sumsEqual.Add(1)
		return
	}
	sent := n.sendDigest(m.From, true)
	n.replyBytes.charge(m.From, time.Now(), float64(sent))
}
