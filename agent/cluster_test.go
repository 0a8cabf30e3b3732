package agent_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/grapevine-sd/grapevine/agent"
	"github.com/grapevine-sd/grapevine/agent/agenttest"
	"github.com/grapevine-sd/grapevine/api"
)

// startCluster starts n agents on loopback (real UDP and TCP), each joined to
// the first, and waits until every one sees n alive members.
func startCluster(t *testing.T, n int) []*agent.Agent {
	t.Helper()
	var as []*agent.Agent
	for i := range n {
		cfg := agenttest.Config(t, fmt.Sprintf("node-%c", 'a'+i))
		if i > 0 {
			cfg.Join = []string{agenttest.GossipAddr(t, as[0])}
		}
		as = append(as, agenttest.Start(t, cfg))
	}
	for _, a := range as {
		agenttest.Eventually(t, 15*time.Second, func() (bool, string) {
			s := a.Self()
			return s.Members.Alive == n, fmt.Sprintf("%s sees %+v", s.Node, s.Members)
		})
	}
	return as
}

// waitIDs waits until a default lookup of service at c answers want
// ("node/id", sorted).
func waitIDs(t *testing.T, c *api.Client, service string, timeout time.Duration, want ...string) []api.Instance {
	t.Helper()
	var insts []api.Instance
	agenttest.Eventually(t, timeout, func() (bool, string) {
		var err error
		insts, _, err = c.Service(t.Context(), service, api.QueryOptions{})
		if err != nil {
			return false, err.Error()
		}
		got := make([]string, 0, len(insts))
		for _, in := range insts {
			got = append(got, in.Node+"/"+in.ID)
		}
		return slices.Equal(got, want), fmt.Sprintf("%s at %s: %v, want %v", service, c.Address(), got, want)
	})
	return insts
}

func TestClusterGossipAndLeave(t *testing.T) {
	as := startCluster(t, 3)
	cs := make([]*api.Client, len(as))
	for i, a := range as {
		cs[i] = agenttest.Client(t, a)
	}
	mustRegister(t, cs[0], api.Registration{ID: "web-a", Name: "web", Address: "10.0.0.1", Port: 80})
	mustRegister(t, cs[1], api.Registration{ID: "web-b", Name: "web", Port: 80})
	for _, c := range cs {
		waitIDs(t, c, "web", 15*time.Second, "node-a/web-a", "node-b/web-b")
	}
	// An instance without an address is served at its node's gossip address.
	if in, err := cs[2].Instance(t.Context(), "node-b", "web-b"); err != nil || in.Address != "127.0.0.1" {
		t.Errorf("web-b at node-c: %+v, %v", in, err)
	}
	// Health changes travel too.
	if err := cs[1].Maintenance(t.Context(), "web-b", true, "drain"); err != nil {
		t.Fatal(err)
	}
	waitIDs(t, cs[2], "web", 15*time.Second, "node-a/web-a")
	if err := cs[1].Maintenance(t.Context(), "web-b", false, ""); err != nil {
		t.Fatal(err)
	}
	waitIDs(t, cs[2], "web", 15*time.Second, "node-a/web-a", "node-b/web-b")

	// Converged catalogs have the same hash.
	agenttest.Eventually(t, 15*time.Second, func() (bool, string) {
		h := []string{as[0].Self().Catalog.Hash, as[1].Self().Catalog.Hash, as[2].Self().Catalog.Hash}
		return h[0] == h[1] && h[1] == h[2], fmt.Sprintf("hashes %v", h)
	})

	// SWIM probes measure round trips to the other agents.
	agenttest.Eventually(t, 15*time.Second, func() (bool, string) {
		for _, m := range as[2].Members() {
			if m.Name != "node-c" && m.RTTMillis <= 0 {
				return false, fmt.Sprintf("no round trip to %s yet", m.Name)
			}
		}
		return true, ""
	})

	// Graceful leave: node-b's instance is withdrawn at the others promptly,
	// not after failure detection and the lease grace.
	ctx, cancel := context.WithTimeout(t.Context(), 15*time.Second)
	defer cancel()
	start := time.Now()
	if err := as[1].Leave(ctx); err != nil {
		t.Fatal(err)
	}
	as[1].Close()
	for _, i := range []int{0, 2} {
		waitIDs(t, cs[i], "web", 15*time.Second, "node-a/web-a")
		insts, _, err := cs[i].Service(t.Context(), "web", api.QueryOptions{Health: api.HealthAny})
		if err != nil || len(insts) != 1 {
			t.Errorf("node %d after leave, health any: %v, %v", i, ids(insts), err)
		}
	}
	t.Logf("leave withdrawn everywhere in %v", time.Since(start))
	agenttest.Eventually(t, 15*time.Second, func() (bool, string) {
		ms := as[2].Members()
		for _, m := range ms {
			if m.Name == "node-b" {
				return m.Status == api.MemberLeft, fmt.Sprintf("node-b is %s at node-c", m.Status)
			}
		}
		return false, "node-b is not listed at node-c"
	})
}
