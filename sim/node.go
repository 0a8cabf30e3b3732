package sim

import (
	"context"
	"time"

	"github.com/hashicorp/memberlist"
)

// Node is one simulated host as the harness drives and observes it. The real
// implementation wraps an agent (NewAgentFactory); tests use fakes. All methods
// are called from the runner's goroutine and the checker's sampler, possibly
// concurrently: implementations must be safe for concurrent use.
type Node interface {
	// Name is the node's name (n<i>), unique in the cluster.
	Name() string
	// Register adds or replaces a local instance; it returns once the change is
	// acknowledged locally (the moment the harness records as the ack).
	Register(ctx context.Context, r Registration) error
	// Deregister removes the local instance id.
	Deregister(ctx context.Context, id string) error
	// SetHealth sets the health of the local instance id.
	SetHealth(ctx context.Context, id, health string) error
	// Lookup returns what a default lookup of service answers at this node,
	// except that it is not filtered by health: every instance the node serves
	// (stale ones flagged), none it withholds (expired or withdrawn).
	Lookup(service string) []Seen
	// Hash is the node's catalog convergence fingerprint: equal hashes mean
	// equal replicated catalogs.
	Hash() uint64
	// Members is how many members (itself included) the node sees alive.
	Members() int
	// Leave leaves the cluster gracefully (peers withdraw its instances at once).
	Leave(ctx context.Context) error
	// Close stops the node without leaving; after a network crash it models the
	// process dying. Idempotent.
	Close() error
}

// LeaseReporter is optionally implemented by a Node to make G3 exact: Withheld
// returns the owners whose records the node currently withholds because of
// their lease (expired or withdrawn after SWIM declared them failed). An
// instance absent only for that reason was not removed there, so its return
// when the owner comes back is not a resurrection. Without it, an instance
// that expires during a partition and briefly returns at the heal (before the
// tombstone arrives) counts as resurrected.
type LeaseReporter interface {
	Withheld() []string
}

// ChangeWatcher is optionally implemented by a Node to make propagation times
// exact: instead of sampling lookups every Scenario.Sample, the checker takes
// the moment each change reaches each node from the node's own change feed.
//
// Watch starts calling fn, from one goroutine the node owns, with the changes
// of the node's served set (what Lookup answers, minus the stale-over-empty
// fallback), in order, until Close, which stops that goroutine and waits for
// it (after Close returns, fn is not called). The first call has full set: its
// changes are the whole served set (upserts), anything not in it is not
// served. A later full call resynchronises after the feed was dropped (a
// drop-out: the changes in between are seen late, at the resync, and the
// checker counts it). fn must not block for long; Watch is called at most
// once per node.
type ChangeWatcher interface {
	Watch(fn func(full bool, changes []ServedChange))
}

// ServedChange is one change of a node's served set: the instance is now
// served as Seen, or no longer served (Deleted; Seen is then as it was last
// served).
type ServedChange struct {
	Service string
	Seen    Seen
	Deleted bool
}

// Registration is an instance to register at its owner node.
type Registration struct {
	ID      string
	Service string
	Address string
	Port    int
	Tags    []string
	Health  string // passing, warning, critical, maintenance
}

// Seen is one instance in a node's lookup answer.
type Seen struct {
	ID     string
	Node   string // owner
	Health string
	Stale  bool          // served past its owner's detected death (G5)
	Age    time.Duration // how long since the owner was last known alive; 0 if fresh
}

// Joiner is optionally implemented by a Node to let a start step settle
// membership (StartStep.Settle): Join contacts addrs as a joining node does
// (for an agent, a memberlist push/pull, which merges both sides' member
// lists) and returns how many answered.
type Joiner interface {
	Join(ctx context.Context, addrs []string) (int, error)
}

// NodeSpec is what a Factory needs to build one node.
type NodeSpec struct {
	Name      string
	Addr      string               // "ip:port" of its transport
	Transport memberlist.Transport // the simulated network endpoint
	DataDir   string               // persistent directory; wiped on a wiping restart
	Now       func() time.Time     // the node's clock (skewed)
	Seeds     []string             // addresses to join at start; empty for the first node
	Agent     []*AgentSettings     // agent settings to apply in order (scenario's, then the node's)
	// Events, if set, receives the node's failure-detector events (see
	// MemberEvent), from any goroutine; it must not block.
	Events  func(MemberEvent)
	Cluster int // nodes the scenario has started so far (for sizing timers)
}

// Factory builds and starts one node; the node joins spec.Seeds (retrying on its
// own as a real agent does). ctx bounds the start only.
type Factory func(ctx context.Context, spec NodeSpec) (Node, error)

// Bounds are the documented timing bounds the checker holds nodes to.
type Bounds struct {
	// Detect is how long the cluster may take to declare a crashed node dead
	// (SWIM suspicion at this cluster size, plus probe intervals).
	Detect time.Duration
	// LeaseGrace is how long records of a dead origin stay served as stale.
	LeaseGrace time.Duration
	// MassFraction is the share of origins lost at once that engages
	// self-preservation (G5): G4 is not checked for crashes at or above it.
	MassFraction float64
	// MassMin is the fewest origins lost at once that count as a mass
	// disappearance (with MassFraction).
	MassMin int
	// MassWindow: losses within this window count together as one mass
	// disappearance (the catalog's MassFailureWindow).
	MassWindow time.Duration
	// StaleMaxAge is how long after a mass disappearance stale-over-empty
	// holds (G5); 0 means the fallback is off and G5 is not checked.
	StaleMaxAge time.Duration
	// Slack is added to every bound for sampling and scheduling noise.
	Slack time.Duration
}

// Withdraw is the G4 bound: a crashed node's instances leave every default
// lookup within Detect + LeaseGrace (+ Slack).
func (b Bounds) Withdraw() time.Duration { return b.Detect + b.LeaseGrace + b.Slack }

// HealthReporter is optionally implemented by a Node for the report's
// failure-detector and self-preservation figures (false deaths, premature
// withdrawals, self-preservation, rejoins, gossip bytes).
type HealthReporter interface {
	// Sees reports whether the node's membership holds name alive.
	Sees(name string) bool
	// Preserving reports whether the node's catalog is in self-preservation,
	// as of the last call of Hash.
	Preserving() bool
	// Counters returns this incarnation's cumulative counters.
	Counters() NodeCounters
}

// NodeCounters are cumulative counters of one node incarnation.
type NodeCounters struct {
	Rejoins   uint64            // members contacted successfully by the rejoin loop
	SentBytes map[string]uint64 // gossip bytes sent, by message kind (push, sync, digest, repair)
}

// MemberEvent is what a node's failure detector did, as its log says
// (memberlist has no callback for suspicion): Observer suspected Subject
// (EventSuspect), declared it failed (EventFailed), or refuted a suspicion
// about itself (EventRefute; Subject is the accuser).
type MemberEvent struct {
	Kind              string
	Observer, Subject string
}

// MemberEvent kinds.
const (
	EventSuspect = "suspect"
	EventFailed  = "failed"
	EventRefute  = "refute"
)
