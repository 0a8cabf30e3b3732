package agent_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/grapevine-sd/grapevine/agent/agenttest"
	"github.com/grapevine-sd/grapevine/api"
	"github.com/miekg/dns"
)

// TestDNSZonesAndStale: two agents in two zones. The asking agent lists
// its own zone's instance first; the other agent's instance is reached by
// its node name; when that agent crashes its instance is served stale with
// dns.stale_ttl.
func TestDNSZonesAndStale(t *testing.T) {
	ca := agenttest.Config(t, "node-a")
	ca.Zone = "z1"
	ca.DNS.Addr = "127.0.0.1:0"
	ca.DNS.Domains = []string{"grapevine.", "consul."}
	a := agenttest.Start(t, ca)
	cb := agenttest.Config(t, "node-b")
	cb.Zone = "z2"
	cb.Join = []string{agenttest.GossipAddr(t, a)}
	b := agenttest.Start(t, cb)
	mustRegister(t, agenttest.Client(t, a), api.Registration{ID: "w", Name: "web", Address: "127.0.0.21", Port: 1})
	mustRegister(t, agenttest.Client(t, b), api.Registration{ID: "w", Name: "web", Address: "127.0.0.22", Port: 2})

	ask := func(name string, qtype uint16) *dns.Msg {
		m := new(dns.Msg)
		m.SetQuestion(name, qtype)
		m.SetEdns0(1232, false)
		r, err := dns.Exchange(m, a.DNSAddr())
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	agenttest.Eventually(t, 15*time.Second, func() (bool, string) {
		r := ask("web.service.grapevine.", dns.TypeA)
		return len(r.Answer) == 2, fmt.Sprint(r.Answer)
	})
	for range 20 {
		r := ask("web.service.grapevine.", dns.TypeA)
		if got := r.Answer[0].(*dns.A).A.String(); got != "127.0.0.21" {
			t.Fatalf("first answer %s, want the asker's zone (127.0.0.21)", got)
		}
	}
	for name, want := range map[string]string{"web.service.z2.grapevine.": "127.0.0.22", "web.service.z2.consul.": "127.0.0.22", "web.service.z1.consul.": "127.0.0.21"} {
		if r := ask(name, dns.TypeA); len(r.Answer) != 1 || r.Answer[0].(*dns.A).A.String() != want {
			t.Errorf("%s: %v, want %s", name, r.Answer, want)
		}
	}
	if r := ask("node-b.node.consul.", dns.TypeA); len(r.Answer) != 1 || r.Answer[0].(*dns.A).A.String() != "127.0.0.1" {
		t.Errorf("node-b.node.consul: %v", r.Answer)
	}

	b.Close() // a crash, as a sees it
	agenttest.Eventually(t, 20*time.Second, func() (bool, string) {
		r := ask("web.service.z2.grapevine.", dns.TypeA)
		return len(r.Answer) == 1 && r.Answer[0].Header().Ttl == 1, fmt.Sprint(r.Answer)
	})
	// The whole RRset takes the stale instance's TTL.
	r := ask("web.service.grapevine.", dns.TypeA)
	for _, rr := range r.Answer {
		if rr.Header().Ttl != 1 {
			t.Errorf("%s: TTL %d, want 1 (stale_ttl)", rr, rr.Header().Ttl)
		}
	}
}
