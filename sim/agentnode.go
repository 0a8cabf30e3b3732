package sim

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/grapevine-sd/grapevine/agent"
	"github.com/grapevine-sd/grapevine/catalog"
	"github.com/hashicorp/memberlist"
)

// DefaultAgentConfig is the template NewAgentFactory starts from:
// agent.DefaultConfig with the HTTP and DNS listeners off (a simulated host
// has no sockets), gossip compression off (HAZARDS.md: it is the CPU
// bottleneck with many agents in one process) and a silent logger.
func DefaultAgentConfig() agent.Config {
	c := agent.DefaultConfig()
	c.HTTP, c.DNS = "", ""
	c.LogLevel = "error"
	c.Gossip.Compression = false
	return c
}

// NewAgentFactory returns a Factory of real agents built from template: per
// node it sets Node, Bind (the simulated address), Transport, DataDir, Now
// (the skewed clock) and Join (the seeds), forces HTTP, DNS and compression
// off, and starts the agent.
func NewAgentFactory(template agent.Config) Factory {
	return func(ctx context.Context, spec NodeSpec) (Node, error) {
		c := template
		c.Node, c.Bind, c.Transport = spec.Name, spec.Addr, spec.Transport
		c.DataDir, c.Now, c.Join = spec.DataDir, spec.Now, spec.Seeds
		c.HTTP, c.DNS = "", ""
		c.Gossip.Compression = false
		a, err := agent.New(c)
		if err != nil {
			return nil, fmt.Errorf("sim: agent %s: %w", spec.Name, err)
		}
		if err := a.Start(ctx); err != nil {
			return nil, errors.Join(fmt.Errorf("sim: start agent %s: %w", spec.Name, err), a.Close())
		}
		return &agentNode{catalogNode: catalogNode{a.Catalog()}, name: spec.Name, a: a}, nil
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
			Slack:        2 * time.Second,
		}
	}
}

type agentNode struct {
	catalogNode
	name string
	a    *agent.Agent
}

func (n *agentNode) Name() string { return n.name }

func (n *agentNode) Members() int {
	if g := n.a.Node(); g != nil {
		return g.NumMembers()
	}
	return 0
}

func (n *agentNode) Leave(ctx context.Context) error { return n.a.Leave(ctx) }

func (n *agentNode) Close() error { return n.a.Close() }

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
