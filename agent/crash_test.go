package agent_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/grapevine-sd/grapevine/agent"
	"github.com/grapevine-sd/grapevine/agent/agenttest"
	"github.com/grapevine-sd/grapevine/api"
	"github.com/hashicorp/memberlist"
)

// TestCrashServesStaleWithAddress: after an agent crashes (Close without
// Leave), its instance is served stale by the others — with the address of
// its node even after memberlist has forgotten the dead node.
func TestCrashServesStaleWithAddress(t *testing.T) {
	tune := func(cfg *agent.Config) {
		cfg.Leases.Grace = 500 * time.Millisecond
		cfg.Gossip.Tune = func(c *memberlist.Config) {
			agenttest.FastTimers(c)
			c.GossipToTheDeadTime = 200 * time.Millisecond // forget dead nodes at once
		}
	}
	cfgA := agenttest.Config(t, "node-a")
	tune(&cfgA)
	a := agenttest.Start(t, cfgA)
	cfgB := agenttest.Config(t, "node-b")
	tune(&cfgB)
	cfgB.Join = []string{agenttest.GossipAddr(t, a)}
	b := agenttest.Start(t, cfgB)
	ca, cb := agenttest.Client(t, a), agenttest.Client(t, b)
	mustRegister(t, cb, api.Registration{ID: "web-b", Name: "web", Port: 80}) // no address: the node's
	waitIDs(t, ca, "web", 15*time.Second, "node-b/web-b")

	b.Close() // a crash as peers see it
	agenttest.Eventually(t, 15*time.Second, func() (bool, string) {
		for _, m := range a.Node().Members() {
			if m.Name == "node-b" {
				return false, "memberlist still lists node-b"
			}
		}
		// The agent still lists it, as failed.
		for _, m := range a.Members() {
			if m.Name == "node-b" {
				return m.Status == api.MemberFailed, fmt.Sprintf("node-b listed as %s", m.Status)
			}
		}
		return false, "node-b not listed as failed"
	})
	insts := waitIDs(t, ca, "web", 15*time.Second, "node-b/web-b")
	if in := insts[0]; !in.Stale || in.Address != "127.0.0.1" {
		t.Errorf("crashed node's instance after memberlist forgot the node: stale %v address %q, want stale at 127.0.0.1", in.Stale, in.Address)
	}
}
