package gossip

import (
	"fmt"
	"math/bits"
	"time"

	"github.com/grapevine-sd/grapevine/crdt"
	"github.com/hashicorp/memberlist"
)

// Sums: the periodic anti-entropy round (syncLoop) used to send a whole
// digest, O(origins), over a stream every SyncInterval, and the peer its own
// back, even when the two were equal, as they are in a quiet cluster most of
// the time. Now a round sends the digest's 64-bit sum in one packet, with
// the sums of its origins split into buckets by a hash of their names
// (crdt.Digest.Sums) from sumBucketsFrom members on. The
// peer compares them with its own:
//
//   - equal sums: nothing to do. Equal digests are exactly the case in which
//     a digest exchange moves nothing: no deltas, no departures (sent only for
//     origins the peer is behind on), nothing for the epoch checks.
//   - different sums, with buckets, at most half of them different: it sends
//     the rows of its digest in those buckets (msgPartDigest, asking for ours
//     in return). Each side reads the other's part as a whole digest whose
//     other origins are where its own are (their buckets' sums were equal),
//     and sends what the peer lacks, as for a digest. A busy cluster has a
//     few changes in flight at any time, so two sums nearly always differ
//     there; the buckets keep the exchange to the origins of those changes.
//   - otherwise: its whole digest, asking for ours (what a round used to do).
//
// A lost sum loses one round, so every StreamSyncEvery-th round sends the
// sums over a stream: a node whose packets are lost but whose streams work
// (a UDP-hostile path) still repairs within that many rounds.

// delegateProtocolSums is the delegate protocol maximum (memberlist's
// DelegateProtocolMax, carried in every alive message) of a node that
// understands msgSum and msgPartDigest. The current version
// (DelegateProtocolVersion) stays 0: memberlist refuses a member whose
// current version is outside every other member's range, and agents before
// sums advertise the range [0, 0]. Sums go only to members that advertise
// this maximum; older ones get digests.
const delegateProtocolSums = 1

// sumBucketsFrom is the number of live members from which sums carry
// buckets; below it a whole digest is at most a couple of KiB.
const sumBucketsFrom = 64

// sumBuckets is the bucket count of a sum for a cluster of members live
// members: about 8 origins per bucket, a power of two, at most
// crdt.MaxSumBuckets (which keeps a sum in one packet: 128 × 9 bytes).
func sumBuckets(members int) int {
	if members < sumBucketsFrom {
		return 0
	}
	return min(crdt.MaxSumBuckets, 1<<bits.Len(uint(members/8-1)))
}

// DigestSummer is a Store that computes its digest's sums without building
// the digest (catalog.Catalog does); other Stores' are Digest().Sums.
type DigestSummer interface {
	DigestSums(buckets int) (uint64, []uint64)
}

// sumBody is a msgSum: [from, sum, [bucket sum...]].
type sumBody struct {
	//lint:ignore U1000 msgpack reads its options from this field by reflection
	_msgpack struct{} `msgpack:",as_array"`
	From     string
	Sum      uint64
	Buckets  []uint64
}

// sumMsg is a decoded msgSum.
type sumMsg struct {
	From    string
	Sum     uint64
	Buckets []uint64 // none, or a power of two of them adding up to Sum
}

func encodeSum(m sumMsg) ([]byte, error) {
	return encode(msgSum, sumBody{From: m.From, Sum: m.Sum, Buckets: m.Buckets})
}

// validBuckets reports whether n is a bucket count of a sum: a power of two
// from 2 to crdt.MaxSumBuckets.
func validBuckets(n int) bool {
	return n >= 2 && n <= crdt.MaxSumBuckets && n&(n-1) == 0
}

// decodeSum decodes and validates a msgSum: a sender, and no buckets or a
// valid count of them that add up to the sum.
func decodeSum(b []byte) (sumMsg, error) {
	var body sumBody
	if err := unmarshal(b, msgSum, &body); err != nil {
		return sumMsg{}, err
	}
	if err := checkName("from", body.From); err != nil {
		return sumMsg{}, err
	}
	m := sumMsg{From: body.From, Sum: body.Sum}
	if len(body.Buckets) > 0 {
		if !validBuckets(len(body.Buckets)) {
			return sumMsg{}, fmt.Errorf("%w: %d sum buckets", ErrBadMessage, len(body.Buckets))
		}
		var total uint64
		for _, v := range body.Buckets {
			total += v
		}
		if total != body.Sum {
			return sumMsg{}, fmt.Errorf("%w: bucket sums do not add up to the sum", ErrBadMessage)
		}
		m.Buckets = body.Buckets
	}
	return m, nil
}

// partBody is a msgPartDigest: [from, reply, buckets, [bucket...], rows].
type partBody struct {
	//lint:ignore U1000 msgpack reads its options from this field by reflection
	_msgpack struct{} `msgpack:",as_array"`
	From     string
	Reply    bool
	Buckets  int
	Which    []int
	Rows     []wirePosition
}

// partMsg is a decoded msgPartDigest: the sender's digest rows of the
// origins in buckets Which (of Buckets).
type partMsg struct {
	From    string
	Reply   bool // send ours for the same buckets
	Buckets int
	Which   []int // increasing
	Digest  crdt.Digest
}

// encodePart encodes the rows of dg in buckets which (of buckets).
func encodePart(from string, reply bool, buckets int, which []int, dg crdt.Digest) ([]byte, error) {
	in := bucketSet(buckets, which)
	rows := rowsOf(dg, func(o string) bool { return in[crdt.SumBucket(o, buckets)] })
	return encode(msgPartDigest, partBody{From: from, Reply: reply, Buckets: buckets, Which: which, Rows: rows})
}

// decodePart decodes and validates a msgPartDigest: a sender, a valid
// bucket count, bucket numbers increasing and in range, rows as a digest's,
// each in one of the buckets.
func decodePart(b []byte) (partMsg, error) {
	var body partBody
	if err := unmarshal(b, msgPartDigest, &body); err != nil {
		return partMsg{}, err
	}
	if err := checkName("from", body.From); err != nil {
		return partMsg{}, err
	}
	if !validBuckets(body.Buckets) {
		return partMsg{}, fmt.Errorf("%w: %d sum buckets", ErrBadMessage, body.Buckets)
	}
	if len(body.Which) == 0 || len(body.Which) > body.Buckets {
		return partMsg{}, fmt.Errorf("%w: %d of %d buckets", ErrBadMessage, len(body.Which), body.Buckets)
	}
	for i, w := range body.Which {
		if w < 0 || w >= body.Buckets || (i > 0 && w <= body.Which[i-1]) {
			return partMsg{}, fmt.Errorf("%w: bucket numbers not increasing below %d", ErrBadMessage, body.Buckets)
		}
	}
	dg, err := digestOf(body.Rows)
	if err != nil {
		return partMsg{}, err
	}
	in := bucketSet(body.Buckets, body.Which)
	for o := range dg {
		if !in[crdt.SumBucket(o, body.Buckets)] {
			return partMsg{}, fmt.Errorf("%w: origin %q outside the buckets", ErrBadMessage, o)
		}
	}
	return partMsg{From: body.From, Reply: body.Reply, Buckets: body.Buckets, Which: body.Which, Digest: dg}, nil
}

// bucketSet marks buckets which (of buckets).
func bucketSet(buckets int, which []int) []bool {
	in := make([]bool, buckets)
	for _, w := range which {
		in[w] = true
	}
	return in
}

// digestSums are the sums of the Store's current digest.
func (n *Node) digestSums(buckets int) (uint64, []uint64) {
	if s, ok := n.store.(DigestSummer); ok {
		return s.DigestSums(buckets)
	}
	return n.store.Digest().Sums(buckets)
}

// syncRound is one anti-entropy round with peer: our sums, in a packet or
// (every StreamSyncEvery-th round, and when they do not fit one) over a
// stream; to a peer that does not understand sums, our digest over a
// stream. Either asks the peer for what it has that we lack.
func (n *Node) syncRound(peer *memberlist.Node, round int) {
	if peer.DMax < delegateProtocolSums || n.cfg.noSums {
		n.sendDigest(peer.Name, true)
		return
	}
	sum, per := n.digestSums(sumBuckets(n.NumMembers()))
	msg, err := encodeSum(sumMsg{From: n.cfg.Name, Sum: sum, Buckets: per})
	if err != nil {
		n.log.Error().Err(err).Msg("encode sum")
		return
	}
	if n.cfg.StreamSyncEvery <= 1 || round%n.cfg.StreamSyncEvery == 0 || len(msg) > n.budget {
		n.sendReliable(peer.Name, msgSum, msg)
	} else {
		n.sendPacket(peer, msgSum, msg)
	}
}

// onSum answers a peer's sums: nothing when they equal ours; the rows of the
// buckets that differ when at most half of them do; else our digest. Either
// asks for the peer's in return.
func (n *Node) onSum(m sumMsg) {
	if m.From == n.cfg.Name || !n.answer(m.From, msgSum) {
		return
	}
	sum, per := n.digestSums(len(m.Buckets))
	if sum == m.Sum {
		n.stats.sumsEqual.Add(1)
		return
	}
	var sent int
	var which []int
	for i := range per {
		if per[i] != m.Buckets[i] {
			which = append(which, i)
		}
	}
	if len(which) > 0 && 2*len(which) <= len(per) {
		sent = n.sendPart(m.From, true, len(per), which)
	} else {
		sent = n.sendDigest(m.From, true)
	}
	n.replyBytes.charge(m.From, time.Now(), float64(sent))
}

// sendPart sends the named node the rows of our digest in buckets which (of
// buckets); reply asks for its own. It returns the bytes queued.
func (n *Node) sendPart(to string, reply bool, buckets int, which []int) int {
	msg, err := encodePart(n.cfg.Name, reply, buckets, which, n.store.Digest())
	if err != nil {
		n.log.Error().Err(err).Msg("encode part digest")
		return 0
	}
	n.sendReliable(to, msgPartDigest, msg)
	return len(msg)
}

// onPart answers a peer's part of its digest as a digest (onDigest): the
// peer's digest is taken to be its part plus our own rows of the other
// buckets, whose sums were equal.
func (n *Node) onPart(m partMsg) {
	if m.From == n.cfg.Name || !n.answer(m.From, msgPartDigest) {
		return
	}
	in := bucketSet(m.Buckets, m.Which)
	peer := n.store.Digest()
	for o := range peer {
		if in[crdt.SumBucket(o, m.Buckets)] {
			delete(peer, o)
		}
	}
	for o, p := range m.Digest {
		peer[o] = p
	}
	sent := n.answerDigest(m.From, peer)
	if m.Reply {
		sent += n.sendPart(m.From, false, m.Buckets, m.Which)
	}
	n.replyBytes.charge(m.From, time.Now(), float64(sent))
}
