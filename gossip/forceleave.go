package gossip

import (
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/hashicorp/memberlist"
)

// Errors of ForceLeave.
var (
	// ErrMemberAlive: the member is alive (or only suspected) here; a live
	// member cannot be forced out.
	ErrMemberAlive = errors.New("gossip: member is alive")
	// ErrUnknownMember: the name is neither a member nor a member that failed
	// or left recently.
	ErrUnknownMember = errors.New("gossip: no such member")
)

// ForceLeave marks a failed member as left on every node, as if it had left
// gracefully: each node reports MemberLeave for it (so its records are
// withdrawn at once instead of served stale for the lease grace) and drops it
// from the rejoin candidates. memberlist has no such operation; this is a
// message of this package (msgForceLeave), sent to every live member as a
// packet and gossiped by piggyback.
//
// A node honours it only for a member SWIM has declared dead (or that left)
// there. Where the member is still alive or suspected, it only marks the
// member's next failure, within a minute, as a leave: a force-leave cannot
// remove a live node, which refutes its own death (memberlist's incarnation)
// and is then a member again everywhere, its records served fresh.
//
// It fails with ErrMemberAlive when the member is alive here and with
// ErrUnknownMember when it is neither a member nor departed.
func (n *Node) ForceLeave(name string) error {
	if n.closed.Load() {
		return ErrClosed
	}
	if name == n.cfg.Name {
		return fmt.Errorf("%w: %s is this node (use Leave)", ErrMemberAlive, name)
	}
	if err := checkName("node", name); err != nil {
		return fmt.Errorf("gossip: force-leave: %w", err)
	}
	if n.isLive(name) {
		return fmt.Errorf("%w: %s", ErrMemberAlive, name)
	}
	if !n.applyForceLeave(name) {
		return fmt.Errorf("%w: %s", ErrUnknownMember, name)
	}
	msg, err := encodeForceLeave(n.cfg.Name, name)
	if err != nil {
		return err
	}
	for _, nd := range n.peers(math.MaxInt) {
		n.sendPacket(nd, msgForceLeave, msg)
	}
	n.bq.QueueBroadcast(&forceLeaveBroadcast{node: name, msg: msg})
	return nil
}

// isLive reports whether name is a live (alive or suspect) member here.
func (n *Node) isLive(name string) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	_, ok := n.members[name]
	return ok
}

// onForceLeave handles a peer's msgForceLeave.
func (n *Node) onForceLeave(m forceLeaveMsg) {
	if m.Node == n.cfg.Name {
		n.log.Warn().Str("peer", m.From).Msg("peer asked to force this node out; ignored (this node is alive)")
		return
	}
	n.mu.Lock()
	if _, live := n.members[m.Node]; live {
		// Not dead here (yet): only a failure within leaveIntentTTL counts as
		// a leave, like a graceful leave announced before memberlist's.
		n.leaving[m.Node] = time.Now()
		n.mu.Unlock()
		return
	}
	n.mu.Unlock()
	if n.applyForceLeave(m.Node) {
		n.log.Info().Str("member", m.Node).Str("peer", m.From).Msg("member forced out")
	}
}

// applyForceLeave reports a departed member as left and forgets it as a
// rejoin candidate; false if name is not a departed member (never known, or
// already forced out).
func (n *Node) applyForceLeave(name string) bool {
	n.mu.Lock()
	d, ok := n.departed[name]
	n.mu.Unlock()
	if !ok {
		return false
	}
	n.forget(name)
	n.events.push(Event{Kind: MemberLeave, Member: Member{Name: name, Addr: d.addr, State: StateLeft}})
	return true
}

// forceLeaveBody is a msgForceLeave: [from, node].
type forceLeaveBody struct {
	//lint:ignore U1000 msgpack reads its options from this field by reflection
	_msgpack struct{} `msgpack:",as_array"`
	From     string
	Node     string
}

// forceLeaveMsg is a decoded msgForceLeave.
type forceLeaveMsg struct {
	From, Node string
}

func encodeForceLeave(from, node string) ([]byte, error) {
	return encode(msgForceLeave, forceLeaveBody{From: from, Node: node})
}

// decodeForceLeave decodes and validates a msgForceLeave.
func decodeForceLeave(b []byte) (forceLeaveMsg, error) {
	var body forceLeaveBody
	if err := unmarshal(b, msgForceLeave, &body); err != nil {
		return forceLeaveMsg{}, err
	}
	if err := checkName("from", body.From); err != nil {
		return forceLeaveMsg{}, err
	}
	if err := checkName("node", body.Node); err != nil {
		return forceLeaveMsg{}, err
	}
	return forceLeaveMsg{From: body.From, Node: body.Node}, nil
}

// forceLeaveBroadcast is a force-leave riding memberlist's gossip; a newer one
// for the same member supersedes it.
type forceLeaveBroadcast struct {
	node string
	msg  []byte
}

var _ memberlist.Broadcast = (*forceLeaveBroadcast)(nil)

func (b *forceLeaveBroadcast) Invalidates(other memberlist.Broadcast) bool {
	o, ok := other.(*forceLeaveBroadcast)
	return ok && o.node == b.node
}

func (b *forceLeaveBroadcast) Message() []byte { return b.msg }
func (b *forceLeaveBroadcast) Finished()       {}
