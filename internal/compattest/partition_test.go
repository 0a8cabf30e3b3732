package compattest

import (
	"testing"
	"time"

	"github.com/grapevine-sd/grapevine/agent"
	"github.com/grapevine-sd/grapevine/agent/agenttest"
	"github.com/grapevine-sd/grapevine/sim/simnet"
	consul "github.com/hashicorp/consul/api"
)

// TestConsulClientsThroughAPartition: three agents gossip over the
// simulator's network (their Consul listeners on real loopback sockets);
// one is cut off. The consul/api client keeps registering and reading on
// the minority side, where a Consul cluster without quorum refuses writes;
// the majority keeps serving the cut-off agent's instances, saying they are
// stale; after the heal the minority's registration reaches everyone.
func TestConsulClientsThroughAPartition(t *testing.T) {
	ncfg := simnet.DefaultConfig()
	ncfg.DefaultLink = simnet.LinkConfig{Latency: time.Millisecond, Distribution: simnet.Fixed}
	nw, err := simnet.New(ncfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nw.Close() })
	var agents []*agent.Agent
	for i, name := range []string{"a", "b", "c"} {
		tr, err := nw.Transport(simnet.Addr(i))
		if err != nil {
			t.Fatal(err)
		}
		cfg := agenttest.Config(t, name)
		cfg.Bind, cfg.Transport = simnet.Addr(i), tr
		cfg.Consul.HTTP = "127.0.0.1:0"
		cfg.Leases.Grace = time.Minute // the majority serves c's instances stale meanwhile
		if i > 0 {
			cfg.Join = []string{simnet.Addr(0)}
		}
		agents = append(agents, agenttest.Start(t, cfg))
	}
	a, c := agents[0], agents[2]
	agenttest.Eventually(t, 15*time.Second, func() (bool, string) {
		for _, ag := range agents {
			if len(ag.Members()) != 3 {
				return false, "three members everywhere"
			}
		}
		return true, ""
	})
	ca, cc := consulClient(t, a), consulClient(t, c)
	if err := cc.Agent().ServiceRegister(&consul.AgentServiceRegistration{ID: "api-1", Name: "api", Port: 80, Address: "10.0.0.3"}); err != nil {
		t.Fatal(err)
	}
	agenttest.Eventually(t, 15*time.Second, func() (bool, string) {
		es, _, err := ca.Health().Service("api", "", true, nil)
		return err == nil && len(es) == 1, "api-1 at a"
	})

	nw.Partition([]string{simnet.Addr(2)}) // c alone
	// The minority side takes a registration and answers it at once.
	if err := cc.Agent().ServiceRegister(&consul.AgentServiceRegistration{ID: "batch-1", Name: "batch", Port: 81, Address: "10.0.0.3"}); err != nil {
		t.Fatalf("register on the minority side: %v", err)
	}
	if es, _, err := cc.Health().Service("batch", "", true, nil); err != nil || len(es) != 1 {
		t.Fatalf("read on the minority side: %v %v", es, err)
	}
	// The majority keeps serving c's instance to passing-only clients, and
	// says it is stale.
	agenttest.Eventually(t, 20*time.Second, func() (bool, string) {
		es, meta, err := ca.Health().Service("api", "", true, nil)
		if err != nil {
			return false, err.Error()
		}
		return len(es) == 1 && !meta.KnownLeader && meta.LastContact > 0,
			"api-1 served stale at a with KnownLeader false and a LastContact"
	})
	if es, _, _ := ca.Health().Service("batch", "", false, nil); len(es) != 0 {
		t.Fatalf("batch reached the majority through a partition")
	}

	healed := time.Now()
	nw.Heal()
	agenttest.Eventually(t, 30*time.Second, func() (bool, string) {
		es, meta, err := ca.Health().Service("batch", "", true, nil)
		return err == nil && len(es) == 1 && meta.KnownLeader, "batch-1 at a after the heal, current"
	})
	t.Logf("consul/api: the minority's registration reached the majority %v after the heal", time.Since(healed).Round(time.Millisecond))
}
