package sim

import (
	"context"
	"errors"
	"fmt"

	"github.com/grapevine-sd/grapevine/agent"
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
