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
		nw, err := simnet.New(simnet.DefaultConfig())
		if err != nil {
			t.Fatal(err)
		}
		factory := NewAgentFactory(DefaultAgentConfig())
		var nodes []*agentNode
		defer func() { // also after t.Fatal: the bubble must end empty
			for _, nd := range nodes {
				if err := nd.Close(); err != nil {
					t.Error(err)
				}
			}
			nw.Close()
			time.Sleep(time.Minute) // memberlist's in-flight probes outlive Shutdown
		}()
		addrs := make([]string, n)
		for i := range n {
			addrs[i] = simnet.Addr(i)
			tr, err := nw.Transport(addrs[i])
			if err != nil {
				t.Fatal(err)
			}
			spec := NodeSpec{Name: fmt.Sprintf("n%d", i), Addr: addrs[i], Transport: tr, DataDir: t.TempDir(), Now: time.Now}
			if i > 0 {
				spec.Seeds = addrs[:1]
			}
			nd, err := factory(context.Background(), spec)
			if err != nil {
				t.Fatal(err)
			}
			nodes = append(nodes, nd.(*agentNode))
		}
		register := func(i int, service string) {
			if err := nodes[i].Register(context.Background(), Registration{Service: service, ID: fmt.Sprintf("%s-%d", service, i), Port: 80, Health: "passing"}); err != nil {
				t.Fatal(err)
			}
		}
		for i := range n {
			register(i, "web")
		}
		agreed := func() (bool, string) {
			want := nodes[0].Hash()
			for _, nd := range nodes {
				if h := nd.Hash(); h != want {
					return false, fmt.Sprintf("catalogs differ: %s %016x, %s %016x", nodes[0].name, want, nd.name, h)
				}
			}
			hex := fmt.Sprintf("%016x", want)
			for _, nd := range nodes {
				ms := nd.a.Members()
				if len(ms) != n {
					return false, fmt.Sprintf("%s lists %d members", nd.name, len(ms))
				}
				for _, m := range ms {
					if m.Status != api.MemberAlive || m.Fingerprint == nil || m.Fingerprint.Hash != hex || m.Agrees == nil || !*m.Agrees {
						return false, fmt.Sprintf("%s sees %s %s with fingerprint %+v, want %s", nd.name, m.Name, m.Status, m.Fingerprint, hex)
					}
				}
				if ag := nd.a.Agreement(); !ag.Converged || ag.Agree != n {
					return false, fmt.Sprintf("%s agreement %+v", nd.name, ag)
				}
			}
			return true, ""
		}
		wait := func(what string, d time.Duration) time.Duration {
			t.Helper()
			start := time.Now()
			for {
				ok, why := agreed()
				if ok {
					return time.Since(start)
				}
				if time.Since(start) > d {
					t.Fatalf("%s: no agreement within %v: %s", what, d, why)
				}
				time.Sleep(100 * time.Millisecond)
			}
		}
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
