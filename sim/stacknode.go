package sim

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync"
	"time"

	"github.com/grapevine-sd/grapevine/catalog"
	"github.com/grapevine-sd/grapevine/gossip"
	"github.com/hashicorp/memberlist"
	"github.com/rs/zerolog"
)

// StackConfig configures nodes made of the real catalog and gossip layers,
// wired the way the agent wires them (membership events drive leases, the
// catalog publishes through gossip, a ticker drives lease expiry), without
// the agent's HTTP, DNS and probes.
type StackConfig struct {
	// Catalog is the template of every node's catalog config (Node, DataDir
	// and Now are set per node). Default catalog.DefaultConfig().
	Catalog catalog.Config
	// Gossip is the template of every node's gossip config (Name, Transport,
	// Seeds are set per node; compression is forced off: in one process it is
	// the CPU bottleneck, HAZARDS.md). Default gossip.DefaultConfig().
	Gossip gossip.Config
	// Tick is how often the catalog's Tick runs (lease expiry). Default 1s,
	// like the agent.
	Tick time.Duration
	// Logger is handed to both layers. Default zerolog.Nop().
	Logger zerolog.Logger
}

// DefaultStackConfig returns production defaults for both layers.
func DefaultStackConfig() StackConfig {
	return StackConfig{
		Catalog: catalog.DefaultConfig(),
		Gossip:  gossip.DefaultConfig(),
		Tick:    time.Second,
		Logger:  zerolog.Nop(),
	}
}

// Bounds returns the G4/G5 bounds these nodes are held to in a cluster of n.
// Detect is memberlist's worst-case failure detection: the Lifeguard
// suspicion timeout before any confirmation, SuspicionMaxTimeoutMult ×
// SuspicionMult × max(1, log10 n) × ProbeInterval, plus one probe round of
// up to 10 members (until some survivor probes the dead node; longer when
// many died at once) and the dead broadcast. That is 35 s at n ≤ 10 and 59 s
// at 100 with LAN defaults; typical detection is far shorter (the report
// shows the measured withdrawal times). LeaseGrace and the mass-disappearance
// threshold are the catalog's; Slack is one Tick plus a second of sampling
// and scheduling noise.
func (c StackConfig) Bounds(n int) Bounds {
	ml := memberlist.DefaultLANConfig()
	if c.Gossip.Tune != nil {
		c.Gossip.Tune(ml)
	}
	scale := max(1, math.Log10(float64(max(n, 1))))
	susp := time.Duration(float64(ml.SuspicionMaxTimeoutMult*ml.SuspicionMult) * scale * float64(ml.ProbeInterval))
	return Bounds{
		Detect:       susp + time.Duration(min(max(n, 2), 10)+1)*ml.ProbeInterval,
		LeaseGrace:   c.Catalog.LeaseGrace,
		MassFraction: c.Catalog.MassFailureFraction,
		MassMin:      c.Catalog.MassFailureMin,
		Slack:        c.Tick + time.Second,
	}
}

// NewStackFactory returns a Factory of catalog+gossip nodes.
func NewStackFactory(cfg StackConfig) Factory {
	return func(ctx context.Context, spec NodeSpec) (Node, error) {
		return startStack(ctx, cfg, spec)
	}
}

type stackNode struct {
	catalogNode
	name string
	g    *gossip.Node
	stop chan struct{}
	wg   sync.WaitGroup
	once sync.Once
}

func startStack(ctx context.Context, cfg StackConfig, spec NodeSpec) (*stackNode, error) {
	cc := cfg.Catalog
	cc.Node, cc.DataDir, cc.Now, cc.Logger = spec.Name, spec.DataDir, spec.Now, cfg.Logger
	cat, err := catalog.New(cc)
	if err != nil {
		return nil, err
	}
	gc := cfg.Gossip
	gc.Name, gc.Transport, gc.Seeds, gc.Logger = spec.Name, spec.Transport, spec.Seeds, cfg.Logger
	gc.EnableCompression = false
	gc.Events = func(ev gossip.Event) {
		switch ev.Kind {
		case gossip.MemberJoin, gossip.MemberUpdate:
			cat.MemberAlive(ev.Member.Name)
		case gossip.MemberLeave:
			cat.MemberLeft(ev.Member.Name)
		case gossip.MemberFail:
			cat.MemberFailed(ev.Member.Name)
		}
	}
	g, err := gossip.New(gc, cat)
	if err != nil {
		_ = cat.Close()
		return nil, err
	}
	cat.SetPublisher(g.Publish)
	n := &stackNode{catalogNode: catalogNode{cat}, name: spec.Name, g: g, stop: make(chan struct{})}
	tick := cfg.Tick
	if tick <= 0 {
		tick = time.Second
	}
	n.wg.Go(func() {
		t := time.NewTicker(tick)
		defer t.Stop()
		for {
			select {
			case <-n.stop:
				return
			case <-t.C:
				cat.Tick()
			}
		}
	})
	if len(spec.Seeds) > 0 {
		// A failed join is not fatal: the rejoin loop keeps trying the seeds.
		_, _ = g.Join(ctx, spec.Seeds)
	}
	return n, nil
}

func (n *stackNode) Name() string { return n.name }

// Members counts alive and suspect members. (gossip.Node.Members reads
// memberlist's shared *Node fields without memberlist's lock, which the race
// detector flags; NumMembers takes the lock.)
func (n *stackNode) Members() int { return n.g.NumMembers() }

func (n *stackNode) Leave(ctx context.Context) error { return n.g.Leave(ctx) }

func (n *stackNode) Close() error {
	var err error
	n.once.Do(func() {
		close(n.stop)
		n.wg.Wait()
		err = errors.Join(n.g.Close(), n.cat.Close())
		if err != nil {
			err = fmt.Errorf("sim: close %s: %w", n.name, err)
		}
	})
	return err
}

// catalogNode is the catalog side of a Node, shared by the agent and stack
// adapters.
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
		out[i] = Seen{ID: e.ID, Node: e.Node, Health: e.Health.String(), Stale: e.Stale, Age: e.Age}
	}
	return out
}

func (n catalogNode) Hash() uint64 { return n.cat.Stats().Hash }

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
