package sim

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"

	"github.com/grapevine-sd/grapevine/agent"
	"github.com/grapevine-sd/grapevine/catalog"
	"github.com/hashicorp/memberlist"
)

// DefaultAgentConfig is the template NewAgentFactory starts from:
// agent.DefaultConfig with the HTTP and DNS listeners off (a simulated host
// has no sockets), gossip compression off (docs/hazards.md: it is the CPU
// bottleneck with many agents in one process) and a silent logger.
func DefaultAgentConfig() agent.Config {
	c := agent.DefaultConfig()
	c.HTTP, c.DNS.Addr = "", ""
	c.LogLevel = "error"
	c.Gossip.Compression = false
	c.InsecureGossip = true // a simulated network has no outsider to keep out
	return c
}

// NewAgentFactory returns a Factory of real agents built from template: per
// node it sets Node, Bind (the simulated address), Transport, DataDir, Now
// (the skewed clock) and Join (the seeds), forces HTTP, DNS and compression
// off, and starts the agent.
func NewAgentFactory(template agent.Config) Factory {
	return func(ctx context.Context, spec NodeSpec) (Node, error) {
		c := template
		for _, a := range spec.Agent {
			if err := a.Apply(&c); err != nil {
				return nil, fmt.Errorf("sim: agent %s: %w", spec.Name, err)
			}
		}
		c.Node, c.Bind, c.Transport = spec.Name, spec.Addr, spec.Transport
		c.DataDir, c.Now, c.Join = spec.DataDir, spec.Now, spec.Seeds
		c.HTTP, c.DNS.Addr = "", ""
		c.Gossip.Compression = false
		if spec.Events != nil {
			// memberlist reports suspicions only in its log (bridged to
			// debug events): read them there.
			c.Logger = zerolog.New(io.Discard).Level(zerolog.DebugLevel).Hook(memberlistHook{spec.Name, spec.Events})
		}
		a, err := agent.New(c)
		if err != nil {
			return nil, fmt.Errorf("sim: agent %s: %w", spec.Name, err)
		}
		if err := a.Start(ctx); err != nil {
			return nil, errors.Join(fmt.Errorf("sim: start agent %s: %w", spec.Name, err), a.Close())
		}
		return &agentNode{catalogNode: catalogNode{a.Catalog()}, name: spec.Name, a: a, stop: make(chan struct{})}, nil
	}
}

// AgentBounds returns the G4/G5 bounds agents built from c are held to in a
// cluster of n. Detect is memberlist's worst-case failure detection: the
// Lifeguard suspicion timeout before any confirmation, SuspicionMaxTimeoutMult
// × SuspicionMult × max(1, log10 n) × ProbeInterval, plus one probe round of up
// to 10 members (until some survivor probes the dead node; longer when many
// died at once) and the dead broadcast. That is 35 s at n ≤ 10 and 59 s at 100
// with LAN defaults; typical detection is far shorter (the report shows the
// measured withdrawal times). LeaseGrace and the mass-disappearance threshold
// are the catalog's; Slack is one tick plus a second of sampling and
// scheduling noise.
func AgentBounds(c agent.Config) func(n int) Bounds {
	cat := catalog.DefaultConfig()
	return func(n int) Bounds {
		ml := memberlist.DefaultLANConfig()
		if c.Gossip.Tune != nil {
			c.Gossip.Tune(ml)
		}
		scale := max(1, math.Log10(float64(max(n, 1))))
		susp := time.Duration(float64(ml.SuspicionMaxTimeoutMult*ml.SuspicionMult) * scale * float64(ml.ProbeInterval))
		frac := c.Leases.MassFailureFraction
		if frac <= 0 {
			frac = cat.MassFailureFraction
		}
		return Bounds{
			Detect:       susp + time.Duration(min(max(n, 2), 10)+1)*ml.ProbeInterval,
			LeaseGrace:   c.Leases.Grace,
			MassFraction: frac,
			MassMin:      cat.MassFailureMin,
			MassWindow:   cat.MassFailureWindow,
			StaleMaxAge:  c.Leases.StaleMaxAge,
			Slack:        2 * time.Second,
		}
	}
}

// AgentScenarioBounds returns AgentBounds for agents built from c with a
// scenario's agent settings applied (for Options.ScenarioBounds).
func AgentScenarioBounds(c agent.Config) func(*AgentSettings) func(n int) Bounds {
	return func(s *AgentSettings) func(int) Bounds {
		cc := c
		_ = s.Apply(&cc) // validated with the scenario
		return AgentBounds(cc)
	}
}

// errNoGossip: the agent has no gossip node (not started, or closed).
var errNoGossip = errors.New("sim: agent has no gossip node")

type agentNode struct {
	catalogNode
	name string
	a    *agent.Agent
	// preserving is the catalog's self-preservation as of the last Hash.
	preserving atomic.Bool

	stop     chan struct{} // closed by Close: ends the watch goroutine
	mu       sync.Mutex    // guards watching, closed
	watching bool
	closed   bool
	wg       sync.WaitGroup // the watch goroutine
}

// watchBuffer is the change feed's buffer per node: a merge that changes more
// served instances at once than this, while the watch goroutine lags, drops
// the feed (counted as a drop-out, then resynchronised). 1024 changes cost
// ~40 kB per node.
const watchBuffer = 1024

// Watch implements ChangeWatcher over the catalog's change feed.
func (n *agentNode) Watch(fn func(full bool, changes []ServedChange)) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.watching || n.closed {
		return
	}
	n.watching = true
	n.wg.Go(func() { n.watch(fn) })
}

// watch feeds fn until stop or the catalog closes, resubscribing (with a full
// resync) when the feed is dropped for being slow.
func (n *agentNode) watch(fn func(bool, []ServedChange)) {
	for {
		// Subscribe first, then read: a change is either in the snapshot
		// (its index at most the service's) or in the feed.
		sub := n.cat.Subscribe("", watchBuffer)
		full, after := n.served()
		fn(true, full)
		if !n.drain(sub, after, fn) {
			return
		}
	}
}

// served returns the served set and each service's change index.
func (n *agentNode) served() ([]ServedChange, map[string]uint64) {
	var out []ServedChange
	after := map[string]uint64{}
	for _, sum := range n.cat.Services() {
		r := n.cat.Service(sum.Name, catalog.Filter{Health: catalog.HealthAny})
		after[sum.Name] = r.Index
		if r.Fallback {
			continue
		}
		for _, x := range seenOf(r) {
			out = append(out, ServedChange{Service: sum.Name, Seen: x})
		}
	}
	return out, after
}

// drain delivers sub's changes in batches until stop (false), the catalog's
// close (false) or a drop for slowness (true: resubscribe).
func (n *agentNode) drain(sub *catalog.Subscription, after map[string]uint64, fn func(bool, []ServedChange)) bool {
	defer sub.Cancel()
	for {
		select {
		case <-n.stop:
			return false
		case ch, ok := <-sub.C:
			if !ok {
				return errors.Is(sub.Err(), catalog.ErrSlowSubscriber)
			}
			batch := appendChange(nil, ch, after)
			for more := true; more && len(batch) < 256; {
				select {
				case ch, ok := <-sub.C:
					if !ok {
						more = false
						break
					}
					batch = appendChange(batch, ch, after)
				default:
					more = false
				}
			}
			if len(batch) > 0 {
				fn(false, batch)
			}
		}
	}
}

func appendChange(out []ServedChange, ch catalog.Change, after map[string]uint64) []ServedChange {
	if ch.Entry == nil || ch.Index <= after[ch.Service] {
		return out
	}
	return append(out, ServedChange{Service: ch.Service, Seen: seenOfEntry(ch.Entry), Deleted: ch.Type == catalog.ChangeDelete})
}

func (n *agentNode) Name() string { return n.name }

// Hash also notes whether the catalog is in self-preservation (one
// Fingerprint call for both).
func (n *agentNode) Hash() uint64 {
	f := n.cat.Fingerprint()
	n.preserving.Store(f.Preserving)
	return f.Hash
}

// Preserving implements HealthReporter.
func (n *agentNode) Preserving() bool { return n.preserving.Load() }

// Sees implements HealthReporter.
func (n *agentNode) Sees(name string) bool {
	g := n.a.Node()
	if g == nil {
		return false
	}
	for _, m := range g.Members() {
		if m.Name == name {
			return true
		}
	}
	return false
}

// Counters implements HealthReporter.
func (n *agentNode) Counters() NodeCounters {
	g := n.a.Node()
	if g == nil {
		return NodeCounters{}
	}
	st := g.Stats()
	out := NodeCounters{Rejoins: st.Rejoins, SentBytes: make(map[string]uint64, len(st.Sent))}
	for k, c := range st.Sent {
		out.SentBytes[k] = c.Bytes
	}
	return out
}

// memberlistHook turns memberlist's log lines about suspicion into
// MemberEvents (the lines' wording is memberlist v0.7's state.go).
type memberlistHook struct {
	self string
	fn   func(MemberEvent)
}

func (h memberlistHook) Run(_ *zerolog.Event, _ zerolog.Level, msg string) {
	switch {
	case strings.HasPrefix(msg, "Suspect ") && strings.HasSuffix(msg, " has failed, no acks received"):
		h.fn(MemberEvent{Kind: EventSuspect, Observer: h.self, Subject: strings.TrimSuffix(strings.TrimPrefix(msg, "Suspect "), " has failed, no acks received")})
	case strings.HasPrefix(msg, "Marking ") && strings.Contains(msg, " as failed, suspect timeout reached"):
		subj, _, _ := strings.Cut(strings.TrimPrefix(msg, "Marking "), " as failed")
		h.fn(MemberEvent{Kind: EventFailed, Observer: h.self, Subject: subj})
	case strings.HasPrefix(msg, "Refuting a suspect message (from: "):
		h.fn(MemberEvent{Kind: EventRefute, Observer: h.self, Subject: strings.TrimSuffix(strings.TrimPrefix(msg, "Refuting a suspect message (from: "), ")")})
	}
}

// Join implements Joiner: a memberlist push/pull with addrs and the
// catalog's digest exchange (gossip.Node.PushPull: the node's origin was
// announced when it joined at its start; announcing it again would send it to
// every member once more).
func (n *agentNode) Join(ctx context.Context, addrs []string) (int, error) {
	g := n.a.Node()
	if g == nil {
		return 0, errNoGossip
	}
	return g.PushPull(ctx, addrs)
}

func (n *agentNode) Members() int {
	if g := n.a.Node(); g != nil {
		return g.NumMembers()
	}
	return 0
}

func (n *agentNode) Leave(ctx context.Context) error { return n.a.Leave(ctx) }

// Close stops the watch goroutine (waiting for it), then the agent.
// Idempotent.
func (n *agentNode) Close() error {
	n.mu.Lock()
	if !n.closed {
		n.closed = true
		close(n.stop)
	}
	n.mu.Unlock()
	n.wg.Wait()
	return n.a.Close()
}

// catalogNode is the catalog side of an agent Node.
type catalogNode struct{ cat *catalog.Catalog }

func (n catalogNode) Register(_ context.Context, r Registration) error {
	h, err := catalog.ParseHealth(r.Health)
	if err != nil {
		return err
	}
	return n.cat.Register(catalog.Instance{
		ID: r.ID, Service: r.Service, Address: r.Address, Port: r.Port, Tags: r.Tags, Health: h,
	})
}

func (n catalogNode) Deregister(_ context.Context, id string) error { return n.cat.Deregister(id) }

func (n catalogNode) SetHealth(_ context.Context, id, health string) error {
	h, err := catalog.ParseHealth(health)
	if err != nil {
		return err
	}
	return n.cat.SetHealth(id, h, "sim")
}

func (n catalogNode) Lookup(service string) []Seen {
	return seenOf(n.cat.Service(service, catalog.Filter{Health: catalog.HealthAny}))
}

// seenOf converts a catalog answer.
func seenOf(r catalog.Result) []Seen {
	out := make([]Seen, len(r.Entries))
	for i, e := range r.Entries {
		out[i] = seenOfEntry(e)
	}
	return out
}

func seenOfEntry(e *catalog.Entry) Seen {
	return Seen{ID: e.ID, Node: e.Node, Health: e.Health.String(), Stale: e.Stale, Age: e.Age}
}

func (n catalogNode) Hash() uint64 { return n.cat.Fingerprint().Hash }

// Withheld implements LeaseReporter.
func (n catalogNode) Withheld() []string {
	var out []string
	for _, ni := range n.cat.Nodes() {
		if ni.Served == "expired" || ni.Served == "withdrawn" {
			out = append(out, ni.Name)
		}
	}
	return out
}
