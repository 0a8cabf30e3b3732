package agent_test

import (
	"encoding/json"
	"slices"
	"strconv"
	"testing"

	"github.com/grapevine-sd/grapevine/agent"
	"github.com/grapevine-sd/grapevine/api"
	"github.com/miekg/dns"
)

// TestDNSThroughAgent queries the agent's DNS server about its own catalog:
// the default lookup's instances, node addresses for instances without one.
func TestDNSThroughAgent(t *testing.T) {
	a, c, _ := single(t, func(cfg *agent.Config) { cfg.DNS.Addr = "127.0.0.1:0" })
	mustRegister(t, c, api.Registration{ID: "w1", Name: "web", Address: "10.0.0.1", Port: 80, Tags: []string{"primary"}})
	mustRegister(t, c, api.Registration{ID: "w2", Name: "web", Port: 81})
	mustRegister(t, c, api.Registration{ID: "w3", Name: "web", Address: "10.0.0.3", Port: 82,
		Checks: []json.RawMessage{json.RawMessage(`{"type":"ttl","ttl":"1h"}`)}}) // critical: not served
	tests := []struct {
		name  string
		qtype uint16
		rcode int
		want  []string
	}{
		{"web.service.grapevine.", dns.TypeA, dns.RcodeSuccess, []string{"10.0.0.1", "127.0.0.1"}},
		{"primary.web.service.grapevine.", dns.TypeA, dns.RcodeSuccess, []string{"10.0.0.1"}},
		{"_web._tcp.service.grapevine.", dns.TypeSRV, dns.RcodeSuccess, []string{"80", "81"}},
		{"node-a.node.grapevine.", dns.TypeA, dns.RcodeSuccess, []string{"127.0.0.1"}},
		{"nothing.service.grapevine.", dns.TypeA, dns.RcodeNameError, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := new(dns.Msg)
			m.SetQuestion(tt.name, tt.qtype)
			r, _, err := (&dns.Client{}).ExchangeContext(t.Context(), m, a.DNSAddr())
			if err != nil {
				t.Fatal(err)
			}
			if r.Rcode != tt.rcode {
				t.Fatalf("rcode %s, want %s", dns.RcodeToString[r.Rcode], dns.RcodeToString[tt.rcode])
			}
			var got []string
			for _, rr := range r.Answer {
				switch v := rr.(type) {
				case *dns.A:
					got = append(got, v.A.String())
				case *dns.SRV:
					got = append(got, strconv.Itoa(int(v.Port)))
				}
			}
			slices.Sort(got)
			if !slices.Equal(got, tt.want) {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}
