package gossip

import (
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/hashicorp/memberlist"
)

// EventKind is the kind of a membership change.
type EventKind uint8

const (
	// MemberJoin: a member became alive (joined, or came back after a failure).
	MemberJoin EventKind = iota + 1
	// MemberUpdate: a member's metadata or address changed.
	MemberUpdate
	// MemberLeave: a member left gracefully (Leave).
	MemberLeave
	// MemberFail: SWIM declared a member dead (it stopped answering probes).
	MemberFail
)

func (k EventKind) String() string {
	switch k {
	case MemberJoin:
		return "join"
	case MemberUpdate:
		return "update"
	case MemberLeave:
		return "leave"
	case MemberFail:
		return "fail"
	}
	return fmt.Sprintf("event(%d)", uint8(k))
}

// MemberState is a member's state as SWIM sees it.
type MemberState uint8

const (
	StateAlive MemberState = iota
	StateSuspect
	StateDead
	StateLeft
)

func (s MemberState) String() string {
	switch s {
	case StateAlive:
		return "alive"
	case StateSuspect:
		return "suspect"
	case StateDead:
		return "dead"
	case StateLeft:
		return "left"
	}
	return fmt.Sprintf("state(%d)", uint8(s))
}

// Member is a cluster member. Name is its node name, which is also its crdt
// origin.
type Member struct {
	Name  string
	Addr  string // IP address
	Port  uint16
	Meta  []byte // the member's Config.Meta (a copy)
	State MemberState
	// RTT is the round trip of the last successful direct probe of the member
	// (memberlist's SWIM ping); 0 until one completed.
	RTT time.Duration

	// ProbeFailures counts this node's probes of the member that got no ack
	// (since it last joined); LastProbeFailure is the latest one's time.
	ProbeFailures    uint64
	LastProbeFailure time.Time
	// suspectUntil: the member is listed StateSuspect until then (suspect.go).
	suspectUntil time.Time

	// target addresses sends to the member: a copy of memberlist's node taken
	// in a callback (under memberlist's lock), never changed afterwards.
	target *memberlist.Node
}

// Event is one membership change.
type Event struct {
	Kind   EventKind
	Member Member
}

func toMember(nd *memberlist.Node) Member {
	st := StateAlive
	switch nd.State {
	case memberlist.StateSuspect:
		st = StateSuspect
	case memberlist.StateDead:
		st = StateDead
	case memberlist.StateLeft:
		st = StateLeft
	}
	target := &memberlist.Node{Name: nd.Name, Addr: slices.Clone(nd.Addr), Port: nd.Port, DMax: nd.DMax}
	return Member{Name: nd.Name, Addr: nd.Addr.String(), Port: nd.Port, Meta: slices.Clone(nd.Meta), State: st, target: target}
}

// eventQueue hands membership events from memberlist's callbacks (which must not
// block) to the consumer's callback, in order, from one goroutine. Unbounded:
// the consumer's slowness delays events, never memberlist.
type eventQueue struct {
	fn     func(Event)
	mu     sync.Mutex // guards queue
	queue  []Event
	signal chan struct{} // capacity 1: "queue is not empty"
}

func newEventQueue(fn func(Event)) *eventQueue {
	return &eventQueue{fn: fn, signal: make(chan struct{}, 1)}
}

func (q *eventQueue) push(e Event) {
	if q.fn == nil {
		return
	}
	q.mu.Lock()
	q.queue = append(q.queue, e)
	q.mu.Unlock()
	select {
	case q.signal <- struct{}{}:
	default:
	}
}

// run delivers events until done is closed; events still queued then are dropped.
func (q *eventQueue) run(done <-chan struct{}) {
	for {
		select {
		case <-done:
			return
		case <-q.signal:
		}
		q.mu.Lock()
		batch := q.queue
		q.queue = nil
		q.mu.Unlock()
		for _, e := range batch {
			select {
			case <-done:
				return
			default:
			}
			q.fn(e)
		}
	}
}
