package sim

import (
	"context"
	"errors"
	"fmt"

	"github.com/grapevine-sd/grapevine/agent"
	"github.com/grapevine-sd/grapevine/catalog"
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
		return &agentNode{name: spec.Name, a: a, cat: a.Catalog()}, nil
	}
}

// AgentBounds returns the bounds agents built from c are held to, with the
// formula of StackConfig.Bounds over the agent's lease settings.
func AgentBounds(c agent.Config) func(n int) Bounds {
	sc := DefaultStackConfig()
	sc.Catalog.LeaseGrace = c.Leases.Grace
	if c.Leases.MassFailureFraction > 0 {
		sc.Catalog.MassFailureFraction = c.Leases.MassFailureFraction
	}
	sc.Gossip.Tune = c.Gossip.Tune
	return sc.Bounds
}

type agentNode struct {
	name string
	a    *agent.Agent
	cat  *catalog.Catalog
}

func (n *agentNode) Name() string { return n.name }

func (n *agentNode) Register(_ context.Context, r Registration) error {
	h, err := catalog.ParseHealth(r.Health)
	if err != nil {
		return err
	}
	return n.cat.Register(catalog.Instance{
		ID: r.ID, Service: r.Service, Address: r.Address, Port: r.Port, Tags: r.Tags, Health: h,
	})
}

func (n *agentNode) Deregister(_ context.Context, id string) error { return n.cat.Deregister(id) }

func (n *agentNode) SetHealth(_ context.Context, id, health string) error {
	h, err := catalog.ParseHealth(health)
	if err != nil {
		return err
	}
	return n.cat.SetHealth(id, h, "sim")
}

func (n *agentNode) Lookup(service string) []Seen {
	return seenOf(n.cat.Service(service, catalog.Filter{Health: catalog.HealthAny}))
}

func (n *agentNode) Hash() uint64 { return n.cat.Stats().Hash }

func (n *agentNode) Members() int {
	if g := n.a.Node(); g != nil {
		return g.NumMembers()
	}
	return 0
}

func (n *agentNode) Leave(ctx context.Context) error { return n.a.Leave(ctx) }

func (n *agentNode) Close() error { return n.a.Close() }
