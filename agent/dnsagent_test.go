package agent_test

import (
	"encoding/json"
	"os"
	"slices"
	"strconv"
	"testing"

	"github.com/grapevine-sd/grapevine/agent"
	"github.com/grapevine-sd/grapevine/api"
	"github.com/miekg/dns"
)

// TestDNSThroughAgent queries the agent's DNS server about its own catalog:
// the default lookup's instances, node addresses for instances without one,
// host names resolved (never a CNAME), TTLs from meta dns_ttl.
func TestDNSThroughAgent(t *testing.T) {
	a, c, _ := single(t, func(cfg *agent.Config) { cfg.DNS.Addr = "127.0.0.1:0" })
	mustRegister(t, c, api.Registration{ID: "w1", Name: "web", Address: "10.0.0.1", Port: 80, Tags: []string{"primary"}})
	mustRegister(t, c, api.Registration{ID: "w2", Name: "web", Port: 81})
	mustRegister(t, c, api.Registration{ID: "h1", Name: "host", Address: "localhost", Port: 90, Meta: map[string]string{"dns_ttl": "42s"}})
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
		{"_web._tcp.service.grapevine.", dns.TypeSRV, dns.RcodeSuccess, []string{"80 0a000001.addr.grapevine.", "81 node-a.node.grapevine."}},
		{"node-a.node.grapevine.", dns.TypeA, dns.RcodeSuccess, []string{"127.0.0.1", "ttl 30"}},
		{"NODE-A.node.grapevine.", dns.TypeA, dns.RcodeSuccess, []string{"127.0.0.1", "ttl 30"}},
		{"host.service.grapevine.", dns.TypeA, dns.RcodeSuccess, []string{"127.0.0.1", "ttl 42"}},
		{"_host._tcp.service.grapevine.", dns.TypeSRV, dns.RcodeSuccess, []string{"90 localhost."}},
		{"example.com.", dns.TypeA, dns.RcodeRefused, nil},
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
					if v.Hdr.Ttl != 5 {
						got = append(got, "ttl "+strconv.Itoa(int(v.Hdr.Ttl)))
					}
				case *dns.SRV:
					got = append(got, strconv.Itoa(int(v.Port))+" "+v.Target)
				default:
					got = append(got, rr.String())
				}
			}
			slices.Sort(got)
			if !slices.Equal(got, tt.want) {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

// TestDNSConfigForms: the dns key is a section; a plain string is still the
// address; -dns ADDR style overrides keep the rest.
func TestDNSConfigForms(t *testing.T) {
	dir := t.TempDir()
	for _, tt := range []struct {
		doc  string
		addr string
		ok   bool
	}{
		{"dns: 127.0.0.1:5353\n", "127.0.0.1:5353", true},
		{"dns: \"\"\n", "", true},
		{"dns:\n  addr: 127.0.0.1:5354\n  domains: [grapevine., consul.]\n", "127.0.0.1:5354", true},
		{"dns:\n  domains: [.]\n", "", false},
		{"dns:\n  max_udp_size: 100\n", "", false},
		{"dns:\n  typo: 1\n", "", false},
	} {
		path := dir + "/c.yaml"
		if err := os.WriteFile(path, []byte(tt.doc), 0o600); err != nil {
			t.Fatal(err)
		}
		cfg := agent.DefaultConfig()
		cfg.Node = "n"
		err := cfg.LoadFile(path)
		if err == nil {
			err = cfg.Validate()
		}
		if (err == nil) != tt.ok {
			t.Errorf("%q: %v, want ok %v", tt.doc, err, tt.ok)
			continue
		}
		if tt.ok && cfg.DNS.Addr != tt.addr {
			t.Errorf("%q: addr %q, want %q", tt.doc, cfg.DNS.Addr, tt.addr)
		}
	}
}
