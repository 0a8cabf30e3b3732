package sim

import (
	"context"
	"fmt"
	"testing"
	"testing/synctest"
	"time"

	"github.com/grapevine-sd/grapevine/api"
	"github.com/grapevine-sd/grapevine/sim/simnet"
)

// The convergence fingerprint each agent gossips in its metadata converges
// with the catalogs: once every catalog has the same hash (after a partition
// healed), every agent reports that same fingerprint for every member,
// itself included, and counts all of them as agreeing.
func TestFingerprintAgreementAfterHeal(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const n = 8
		nw, nodes := startAgents(t, n)
		defer stopAgents(t, nw, nodes)
		addrs := make([]string, n)
		for i := range addrs {
			addrs[i] = simnet.Addr(i)
		}
		register := func(i int, service string) {
			if err := nodes[i].Register(context.Background(), Registration{Service: service, ID: fmt.Sprintf("%s-%d", service, i), Port: 80, Health: "passing"}); err != nil {
				t.Fatal(err)
			}
		}
		for i := range n {
			register(i, "web")
		}
		agreed := func() (bool, string) { return fingerprintsAgree(nodes) }
		wait := func(what string, d time.Duration) time.Duration { return waitAgree(t, nodes, what, d) }
		t.Logf("start: fingerprints agree after %v (virtual)", wait("start", time.Minute))

		nw.Partition(addrs[:n/2], addrs[n/2:])
		register(0, "api")
		register(n-1, "db")
		time.Sleep(40 * time.Second) // long enough for SWIM to declare the other side dead
		if ok, _ := agreed(); ok {
			t.Fatal("fingerprints agree across a partition with different writes on each side")
		}
		nw.Heal()
		t.Logf("heal: fingerprints agree everywhere %v after the heal (virtual)", wait("heal", 2*time.Minute))
	})
}

// startAgents starts n agents on a simulated network (inside a synctest
// bubble), each joined to the first; t.Cleanup-like teardown is deferred by
// the caller's bubble through stopAgents.
func startAgents(t *testing.T, n int) (*simnet.Network, []*agentNode) {
	t.Helper()
	nw, err := simnet.New(simnet.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	factory := NewAgentFactory(DefaultAgentConfig())
	var nodes []*agentNode
	for i := range n {
		addr := simnet.Addr(i)
		tr, err := nw.Transport(addr)
		if err != nil {
			t.Fatal(err)
		}
		spec := NodeSpec{Name: fmt.Sprintf("n%d", i), Addr: addr, Transport: tr, DataDir: t.TempDir(), Now: time.Now}
		if i > 0 {
			spec.Seeds = []string{simnet.Addr(0)}
		}
		nd, err := factory(context.Background(), spec)
		if err != nil {
			stopAgents(t, nw, nodes)
			t.Fatal(err)
		}
		nodes = append(nodes, nd.(*agentNode))
	}
	return nw, nodes
}

// stopAgents closes the agents and the network and lets memberlist's
// in-flight probes end, so the synctest bubble ends empty.
func stopAgents(t *testing.T, nw *simnet.Network, nodes []*agentNode) {
	for _, nd := range nodes {
		if err := nd.Close(); err != nil {
			t.Error(err)
		}
	}
	nw.Close()
	time.Sleep(time.Minute)
}

// fingerprintsAgree reports whether every catalog has the same hash and every
// agent sees that hash as every member's fingerprint, all agreeing.
func fingerprintsAgree(nodes []*agentNode) (bool, string) {
	want := nodes[0].Hash()
	for _, nd := range nodes {
		if h := nd.Hash(); h != want {
			return false, fmt.Sprintf("catalogs differ: %s %016x, %s %016x", nodes[0].name, want, nd.name, h)
		}
	}
	hex := fmt.Sprintf("%016x", want)
	for _, nd := range nodes {
		ms := nd.a.Members()
		if len(ms) != len(nodes) {
			return false, fmt.Sprintf("%s lists %d members", nd.name, len(ms))
		}
		for _, m := range ms {
			if m.Status != api.MemberAlive || m.Fingerprint == nil || m.Fingerprint.Hash != hex || m.Agrees == nil || !*m.Agrees {
				return false, fmt.Sprintf("%s sees %s %s with fingerprint %+v, want %s", nd.name, m.Name, m.Status, m.Fingerprint, hex)
			}
		}
		if ag := nd.a.Agreement(); !ag.Converged || ag.Agree != len(nodes) {
			return false, fmt.Sprintf("%s agreement %+v", nd.name, ag)
		}
	}
	return true, ""
}

// waitAgree waits (virtual time) until fingerprintsAgree, failing after d.
func waitAgree(t *testing.T, nodes []*agentNode, what string, d time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	for {
		ok, why := fingerprintsAgree(nodes)
		if ok {
			return time.Since(start)
		}
		if time.Since(start) > d {
			t.Fatalf("%s: no agreement within %v: %s", what, d, why)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// metaBroadcasts sums the metadata broadcasts of all nodes.
func metaBroadcasts(nodes []*agentNode) (changes, broadcasts uint64) {
	for _, nd := range nodes {
		st := nd.a.Node().MetaStats()
		changes += st.Changes
		broadcasts += st.Broadcasts
	}
	return changes, broadcasts
}

// Under sustained churn (a registration somewhere every 100 ms for a minute)
// the fingerprint metadata does not flood: an agent publishes a fingerprint
// only once it is stable (or every 30 s), so the broadcasts stay a few per
// agent; after the churn stops all fingerprints agree within seconds.
func TestFingerprintUnderChurn(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const n, churn, every = 20, time.Minute, 100 * time.Millisecond
		nw, nodes := startAgents(t, n)
		defer stopAgents(t, nw, nodes)
		waitAgree(t, nodes, "start", time.Minute)
		c0, b0 := metaBroadcasts(nodes)
		ctx := context.Background()
		for i := range int(churn / every) {
			nd := nodes[i%n]
			id := fmt.Sprintf("job-%d", i%7)
			if i%3 == 2 {
				_ = nd.Deregister(ctx, id)
			} else if err := nd.Register(ctx, Registration{Service: "job", ID: id, Port: i, Health: "passing"}); err != nil {
				t.Fatal(err)
			}
			time.Sleep(every)
		}
		c1, b1 := metaBroadcasts(nodes)
		took := waitAgree(t, nodes, "after churn", time.Minute)
		_, b2 := metaBroadcasts(nodes)
		perAgent := float64(b1-b0) / n
		t.Logf("%d agents, %d changes in %v: %d metadata broadcasts (%.1f per agent, %d metadata changes); agree %v after the churn (virtual), %d more broadcasts",
			n, int(churn/every), churn, b1-b0, perAgent, c1-c0, took, b2-b1)
		// An agent publishes every 30 s at most under churn, plus the rate
		// limiter's edges.
		if max := float64(churn/(30*time.Second)) + 3; perAgent > max {
			t.Errorf("%.1f broadcasts per agent during %v of churn, want at most %.0f", perAgent, churn, max)
		}
	})
}
