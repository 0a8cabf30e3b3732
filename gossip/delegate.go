package gossip

import (
	"errors"
	"fmt"
	"time"

	"github.com/grapevine-sd/grapevine/crdt"
	"github.com/hashicorp/memberlist"
	"github.com/rs/zerolog"
)

// delegate receives memberlist's callbacks. memberlist calls them from its own
// goroutines (packet and stream handlers, the gossip and push/pull timers, the
// state machine with its node lock held for the event methods): none of them
// blocks on the network. Sends they cause are packets (non-blocking writes) or
// go to the reliable queue.
type delegate struct{ n *Node }

var (
	_ memberlist.Delegate      = (*delegate)(nil)
	_ memberlist.EventDelegate = (*delegate)(nil)
)

// NodeMeta returns the node's metadata: Config.Meta, then SetMeta's.
func (d *delegate) NodeMeta(limit int) []byte {
	meta := d.n.localMeta()
	if len(meta) > limit {
		return nil
	}
	return meta
}

// NotifyMsg handles one user message (packet, piggyback part or stream). Bad
// input is rejected (counted by reason, logged rate-limited) and changes
// nothing.
func (d *delegate) NotifyMsg(b []byte) {
	n := d.n
	if len(b) == 0 || n.closed.Load() {
		return
	}
	kind := msgType(b[0])
	if n.cfg.noSums && (kind == msgSum || kind == msgPartDigest) {
		kind = 0 // as an agent from before sums: an unknown type
	}
	var err error
	switch kind {
	case msgPush:
		var m pushMsg
		if m, err = decodePush(b); err == nil {
			n.stats.received(kind, len(b))
			n.onPush(m, b)
		}
	case msgRelay:
		var m relayMsg
		if m, err = decodeRelay(b); err == nil {
			n.stats.received(kind, len(b))
			n.onRelay(m)
		}
	case msgSync:
		var m syncMsg
		if m, err = decodeSync(b); err == nil {
			n.stats.received(kind, len(b))
			n.onSync(m)
		}
	case msgDigest:
		var m digestMsg
		if m, err = decodeDigest(b); err == nil {
			n.stats.received(kind, len(b))
			n.onDigest(m)
		}
	case msgSum:
		var m sumMsg
		if m, err = decodeSum(b); err == nil {
			n.stats.received(kind, len(b))
			n.onSum(m)
		}
	case msgPartDigest:
		var m partMsg
		if m, err = decodePart(b); err == nil {
			n.stats.received(kind, len(b))
			n.onPart(m)
		}
	case msgRepair:
		var m repairMsg
		if m, err = decodeRepair(b); err == nil {
			n.stats.received(kind, len(b))
			n.onRepair(m)
		}
	case msgLeave:
		var from string
		if from, err = decodeLeave(b); err == nil {
			n.stats.received(kind, len(b))
			n.mu.Lock()
			if _, live := n.members[from]; live { // forged names must not grow the map
				n.leaving[from] = time.Now()
			}
			n.mu.Unlock()
		}
	case msgForceLeave:
		var m forceLeaveMsg
		if m, err = decodeForceLeave(b); err == nil {
			n.stats.received(kind, len(b))
			n.onForceLeave(m)
		}
	case msgDepartures:
		var m departuresMsg
		if m, err = decodeDepartures(b); err == nil {
			n.stats.received(kind, len(b))
			n.onDepartures(m)
		}
	case msgKeyring:
		var m keyringMsg
		if m, err = decodeKeyring(b); err == nil {
			n.stats.received(kind, len(b))
			n.onKeyring(m)
		}
	case msgKeyringAck:
		var m keyringAckMsg
		if m, err = decodeKeyringAck(b); err == nil {
			n.stats.received(kind, len(b))
			n.onKeyringAck(m)
		}
	default:
		err = fmt.Errorf("%w: %w: %d", ErrBadMessage, ErrUnknownType, b[0])
	}
	if err != nil {
		n.rejectDecode(err, kind, len(b))
	}
}

// rejectDecode rejects an undecodable message: too large or malformed.
func (n *Node) rejectDecode(err error, kind msgType, size int) {
	why := ReasonMalformed
	if errors.Is(err, ErrTooLarge) {
		why = ReasonTooLarge
	}
	n.reject(why, err, func(e *zerolog.Event) { e.Stringer("kind", kind).Int("bytes", size) })
}

// GetBroadcasts hands memberlist the piggyback deltas that fit.
func (d *delegate) GetBroadcasts(overhead, limit int) [][]byte {
	return d.n.bq.GetBroadcasts(overhead, limit)
}

// LocalState is our side of a push/pull: the digest only, O(origins).
func (d *delegate) LocalState(bool) []byte {
	msg, err := encodeDigest(d.n.cfg.Name, false, d.n.store.Digest())
	if err != nil {
		d.n.log.Error().Err(err).Msg("encode digest")
		return nil
	}
	d.n.stats.sent(msgDigest, len(msg))
	return msg
}

// MergeRemoteState takes the peer's digest from a push/pull and queues what the
// peer lacks (the peer does the same with ours).
func (d *delegate) MergeRemoteState(buf []byte, _ bool) {
	n := d.n
	if len(buf) == 0 || n.closed.Load() {
		return
	}
	m, err := decodeDigest(buf)
	if err != nil {
		n.rejectDecode(err, msgDigest, len(buf))
		return
	}
	n.stats.received(msgDigest, len(buf))
	m.Reply = false // the peer gets ours in the same exchange
	n.onDigest(m)
}

// AckPayload and NotifyPingComplete make the delegate memberlist's
// PingDelegate: probe round trips feed Member.RTT and Stats.ProbeRTT. No
// payload rides the acks.
func (d *delegate) AckPayload() []byte { return nil }

func (d *delegate) NotifyPingComplete(other *memberlist.Node, rtt time.Duration, _ []byte) {
	if other != nil && rtt >= 0 {
		d.n.probed(other.Name, rtt)
	}
}

// NotifyJoin, NotifyLeave and NotifyUpdate run with memberlist's node lock held:
// they only record and enqueue.
func (d *delegate) NotifyJoin(nd *memberlist.Node) {
	d.n.forget(nd.Name)
	m := toMember(nd)
	d.n.setMember(m.Name, &m)
	d.n.events.push(Event{Kind: MemberJoin, Member: m})
}

// memberlist v0.7.0 passes Node.State as alive even for a node that left (it
// updates only its internal state), so a graceful leave is recognized by the
// leave message the node sent first (Node.Leave); without it, it is a failure.
func (d *delegate) NotifyLeave(nd *memberlist.Node) {
	kind := MemberFail
	d.n.mu.Lock()
	if at, ok := d.n.leaving[nd.Name]; ok {
		delete(d.n.leaving, nd.Name)
		if time.Since(at) < leaveIntentTTL {
			kind = MemberLeave
		}
	}
	d.n.mu.Unlock()
	d.n.remember(nd.Name, nd.Address())
	d.n.setMember(nd.Name, nil)
	d.n.events.push(Event{Kind: kind, Member: toMember(nd)})
}

func (d *delegate) NotifyUpdate(nd *memberlist.Node) {
	m := toMember(nd)
	d.n.setMember(m.Name, &m)
	d.n.events.push(Event{Kind: MemberUpdate, Member: m})
}

// merge applies one delta, rejecting (counting and logging) what the Store
// refuses.
func (n *Node) merge(dl crdt.Delta, from string) (crdt.MergeResult, bool) {
	res, err := n.store.Merge(dl)
	if err != nil {
		if errors.Is(err, crdt.ErrNewerSelfEpoch) {
			n.log.Warn().Err(err).Str("peer", from).Msg("peer holds a newer epoch of our origin")
		} else {
			n.reject(n.mergeReason(err), err, func(e *zerolog.Event) {
				e.Str("peer", from).Str("origin", dl.Origin).Uint64("epoch", dl.Epoch)
			})
		}
		return res, false
	}
	return res, true
}

// mergeReason classifies a Store.Merge error (Config.MergeReason first).
func (n *Node) mergeReason(err error) Reason {
	if n.cfg.MergeReason != nil {
		if why := n.cfg.MergeReason(err); why != 0 {
			return why
		}
	}
	if errors.Is(err, crdt.ErrInvalidDelta) {
		return ReasonMalformed
	}
	return ReasonInvalid
}

// admit charges a message's records to its sender's rate (SenderRecordRate)
// and rejects the message when the sender is over it.
func (n *Node) admit(from string, ds ...crdt.Delta) bool {
	cost := 0
	for _, d := range ds {
		cost += 1 + len(d.Entries)
	}
	if n.senders.allow(from, time.Now(), float64(cost)) {
		return true
	}
	n.reject(ReasonRateLimited, nil, func(e *zerolog.Event) { e.Str("peer", from).Int("records", cost).Str("limit", "sender_records") })
	return false
}

// answer reports whether an anti-entropy answer to peer to may be sent now
// (ReplyRate, ReplyBytesRate); a refused one is rejected as rate-limited.
// The caller charges the answer's bytes with answered.
func (n *Node) answer(to string, what msgType) bool {
	if !n.isLive(to) {
		n.stats.dropped.Add(1) // not a member: nowhere to send it
		return false
	}
	now := time.Now()
	if n.replyBytes.allow(to, now, 0) && n.replies.allow(to, now, 1) {
		return true
	}
	n.reject(ReasonRateLimited, nil, func(e *zerolog.Event) { e.Str("peer", to).Stringer("kind", what).Str("limit", "replies") })
	return false
}

// take admits (SenderRecordRate) and merges one delta pushed or relayed by
// from, counting it fresh when it brought something new; ok is false when it
// was refused.
func (n *Node) take(from string, d crdt.Delta) (crdt.MergeResult, bool) {
	if !n.admit(from, d) {
		return crdt.MergeResult{}, false
	}
	res, ok := n.merge(d, from)
	if ok && res.New {
		n.stats.fresh.Add(1)
	}
	return res, ok
}

// onPush merges an eager or piggybacked delta; the first time it brings
// something new, it is forwarded to Fanout peers and queued for piggyback.
func (n *Node) onPush(m pushMsg, raw []byte) {
	res, ok := n.take(m.From, m.Delta)
	if !ok {
		return
	}
	if res.New {
		msg, err := encodePush(n.cfg.Name, m.Delta)
		if err != nil {
			msg = raw
		}
		n.push(msg, m.Delta.Origin, m.From)
		n.queueBroadcast(m.Delta)
	}
	if res.Gap {
		n.repair(m.Delta.Origin, m.From)
	}
}

// onSync merges anti-entropy or repair deltas. Those new here that fit one
// packet are forwarded like eager pushes (not piggybacked): after a join or a
// healed partition the two contact nodes learn the other side first, and this
// spreads it in network hops instead of SyncInterval rounds. Bigger ones (a
// snapshot chunk) are left to each node's own anti-entropy. A remaining gap is
// repaired.
func (n *Node) onSync(m syncMsg) {
	if !n.admit(m.From, m.Deltas...) {
		return
	}
	gaps := map[string]bool{}
	for _, dl := range m.Deltas {
		res, ok := n.merge(dl, m.From)
		if !ok {
			continue
		}
		gaps[dl.Origin] = res.Gap
		if res.New {
			if msg, err := encodePush(n.cfg.Name, dl); err == nil && len(msg) <= n.budget {
				n.stats.fresh.Add(1)
				n.push(msg, dl.Origin, m.From)
			}
		}
	}
	for origin, gap := range gaps {
		if gap {
			n.repair(origin, m.From)
		}
	}
}

// onDigest sends the peer what it lacks and, if asked, our digest in return.
func (n *Node) onDigest(m digestMsg) {
	if m.From == n.cfg.Name || !n.answer(m.From, msgDigest) {
		return
	}
	sent := n.answerDigest(m.From, m.Digest)
	if m.Reply {
		sent += n.sendDigest(m.From, false)
	}
	n.replyBytes.charge(m.From, time.Now(), float64(sent))
}

// answerDigest sends the named peer, whose digest is peer, the departures and
// deltas it lacks; it returns the delta bytes queued.
func (n *Node) answerDigest(to string, peer crdt.Digest) int {
	n.sendDepartures(to, peer)
	return n.sendDeltas(to, n.store.DeltaSince(peer, n.cfg.ChunkBytes))
}

// onRepair answers a gap-repair request.
func (n *Node) onRepair(m repairMsg) {
	if m.From == n.cfg.Name || !n.answer(m.From, msgRepair) {
		return
	}
	sent := n.sendDeltas(m.From, n.store.DeltaSinceOrigin(m.Origin, m.Have, n.cfg.ChunkBytes))
	n.replyBytes.charge(m.From, time.Now(), float64(sent))
}

// repair asks for origin's changes after our version, at most once per origin
// per RepairInterval: from the origin itself when it is live (it holds them
// all), else from the peer that sent what revealed the gap.
func (n *Node) repair(origin, from string) {
	now := time.Now()
	n.mu.Lock()
	if last, ok := n.repairAt[origin]; ok && now.Sub(last) < n.cfg.RepairInterval {
		n.mu.Unlock()
		return
	}
	n.repairAt[origin] = now
	n.mu.Unlock()

	to := from
	if n.member(origin) != nil {
		to = origin
	}
	if to == "" || to == n.cfg.Name {
		return
	}
	have := n.store.Digest()[origin] // zero Version if unknown
	msg, err := encodeRepair(n.cfg.Name, origin, have)
	if err != nil {
		n.log.Error().Err(err).Msg("encode repair")
		return
	}
	n.sendReliable(to, msgRepair, msg)
}
