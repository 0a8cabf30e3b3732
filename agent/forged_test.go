package agent_test

import (
	"fmt"
	"math"
	"net"
	"testing"
	"time"

	"github.com/grapevine-sd/grapevine/agent"
	"github.com/grapevine-sd/grapevine/agent/agenttest"
	"github.com/grapevine-sd/grapevine/api"
	"github.com/vmihailenco/msgpack/v5"
)

// forgedPush is one gossip push of a delta [origin, epoch, 1, 2, 0, [entry]]
// carrying a passing instance of service, as a raw memberlist user packet
// (no key: the agents run with insecure gossip, as anyone on the network
// could send it then; a key holder can send the same inside encryption).
func forgedPush(t *testing.T, origin string, epoch uint64, service string) []byte {
	t.Helper()
	value, err := msgpack.Marshal([]any{1, service, "10.6.6.6", 80, nil, nil, "", 1, ""})
	if err != nil {
		t.Fatal(err)
	}
	body, err := msgpack.Marshal([]any{"x", []any{origin, epoch, 1, 2, 0, []any{[]any{service + "-1", 2, value, false}}}})
	if err != nil {
		t.Fatal(err)
	}
	const memberlistUserMsg, pushType, protocolVersion = 8, 1, 1
	return append([]byte{memberlistUserMsg, pushType, protocolVersion}, body...)
}

func sendUDP(t *testing.T, as []*agent.Agent, pkt []byte) {
	t.Helper()
	for _, a := range as {
		c, err := net.Dial("udp", agenttest.GossipAddr(t, a))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.Write(pkt); err != nil {
			t.Fatal(err)
		}
		c.Close()
	}
}

// TestForgedDeltas sends the forged pushes of issue 8 to real agents over
// UDP: a phantom origin that was never a member is served nowhere and is
// gone after unknown_grace; an epoch of 2^64-1 for a live origin changes
// nothing; a plausible takeover of a live origin is undone by its owner
// within seconds (logged: the time to re-establish).
func TestForgedDeltas(t *testing.T) {
	if testing.Short() {
		t.Skip("starts three agents and waits for the quarantine bound")
	}
	as := startCluster(t, 3)
	cs := make([]*api.Client, len(as))
	for i, a := range as {
		cs[i] = agenttest.Client(t, a)
	}
	mustRegister(t, cs[1], api.Registration{ID: "web-b", Name: "web", Port: 80})
	for _, c := range cs {
		waitIDs(t, c, "web", 15*time.Second, "node-b/web-b")
	}
	now := uint64(time.Now().UnixMilli()) << 22

	phantom := forgedPush(t, "ghost", now, "evil")
	t.Logf("phantom-origin push: %d bytes", len(phantom))
	sendUDP(t, as, phantom)
	// A packet's processing has no completion signal: a change made after it
	// at every agent, once seen everywhere, bounds it.
	marker := func(id string) {
		for _, c := range cs {
			mustRegister(t, c, api.Registration{ID: id, Name: "marker", Port: 1})
		}
		for _, c := range cs {
			agenttest.Eventually(t, 15*time.Second, func() (bool, string) {
				insts, _, err := c.Service(t.Context(), "marker", api.QueryOptions{})
				n := 0
				for _, in := range insts {
					if in.ID == id {
						n++
					}
				}
				return err == nil && n == len(cs), fmt.Sprintf("marker %s: %d of %d, %v", id, n, len(cs), err)
			})
		}
	}
	marker("m1")
	for i, c := range cs {
		insts, _, err := c.Service(t.Context(), "evil", api.QueryOptions{})
		if err != nil || len(insts) != 0 {
			t.Fatalf("agent %d serves the phantom: %v, %v", i, insts, err)
		}
		if _, ok := as[i].Self().Digest["ghost"]; ok {
			t.Fatalf("agent %d holds the phantom origin", i)
		}
	}

	// 2^64-1 for node-b: rejected everywhere, node-b's records stay.
	sendUDP(t, as, forgedPush(t, "node-b", math.MaxUint64, "web"))
	marker("m2")
	for _, c := range cs {
		waitIDs(t, c, "web", time.Second, "node-b/web-b")
	}
	if e := as[1].Self().Epoch; e == math.MaxUint64 {
		t.Fatal("node-b took the forged epoch")
	}

	// A plausible takeover (one hour ahead): undone by node-b.
	takeover := as[1].Self().Epoch + 3600*1000<<22
	start := time.Now()
	sendUDP(t, as[:1], forgedPush(t, "node-b", takeover, "web"))
	// Re-established: every agent holds node-b above the claim, serving web-b.
	for i, c := range cs {
		agenttest.Eventually(t, 15*time.Second, func() (bool, string) {
			e := as[i].Self().Digest["node-b"].Epoch
			return e > takeover, fmt.Sprintf("agent %d holds node-b at %d, claim %d", i, e, takeover)
		})
		waitIDs(t, c, "web", 15*time.Second, "node-b/web-b")
	}
	t.Logf("node-b re-established at every agent %v after a takeover claim", time.Since(start).Round(time.Millisecond))
}
