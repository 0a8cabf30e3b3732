package agent

import (
	"context"
	"math/rand/v2"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/miekg/dns"
	"github.com/rs/zerolog"
)

type fakeDNSSource struct {
	services map[string][]dnsTarget
	tags     map[string][]string // instance id → tags
	nodes    map[string]string
}

func (f fakeDNSSource) ServiceTargets(service, tag string) ([]dnsTarget, bool) {
	ts, ok := f.services[service]
	if !ok {
		return nil, false
	}
	var out []dnsTarget
	for _, t := range ts {
		if tag == "" || strings.Contains(strings.Join(f.tags[t.ID], ","), tag) {
			out = append(out, t)
		}
	}
	return out, true
}

func (f fakeDNSSource) NodeAddress(node string) (string, bool) {
	a, ok := f.nodes[node]
	return a, ok
}

func testDNS(t *testing.T) *dnsServer {
	t.Helper()
	src := fakeDNSSource{
		services: map[string][]dnsTarget{
			"web": {
				{ID: "web-1", Node: "n1", Address: "10.0.0.1", Port: 8080},
				{ID: "web-2", Node: "n2", Address: "10.0.0.2", Port: 8081},
				{ID: "web-3", Node: "n3", Address: "fd00::3", Port: 8082},
			},
			"empty": nil,
		},
		tags:  map[string][]string{"web-1": {"primary"}, "web-2": {"canary"}},
		nodes: map[string]string{"n1": "192.168.1.1"},
	}
	s, err := startDNS("127.0.0.1:0", src, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.close(context.Background()) })
	return s
}

func query(t *testing.T, s *dnsServer, name string, qtype uint16, net string) *dns.Msg {
	t.Helper()
	m := new(dns.Msg)
	m.SetQuestion(name, qtype)
	c := &dns.Client{Net: net}
	r, _, err := c.Exchange(m, s.Addr())
	if err != nil {
		t.Fatalf("%s %s: %v", name, dns.TypeToString[qtype], err)
	}
	return r
}

func answers(r *dns.Msg) []string {
	var out []string
	for _, rr := range r.Answer {
		switch v := rr.(type) {
		case *dns.A:
			out = append(out, "A "+v.A.String())
		case *dns.AAAA:
			out = append(out, "AAAA "+v.AAAA.String())
		case *dns.SRV:
			out = append(out, "SRV "+v.Target+" "+strconv.Itoa(int(v.Port)))
		case *dns.CNAME:
			out = append(out, "CNAME "+v.Target)
		}
	}
	sort.Strings(out)
	return out
}

func TestDNSAnswers(t *testing.T) {
	s := testDNS(t)
	tests := []struct {
		name  string
		qtype uint16
		rcode int
		want  string
	}{
		{"web.service.grapevine.", dns.TypeA, dns.RcodeSuccess, "A 10.0.0.1|A 10.0.0.2"},
		{"WEB.Service.Grapevine.", dns.TypeA, dns.RcodeSuccess, "A 10.0.0.1|A 10.0.0.2"},
		{"web.service.grapevine.", dns.TypeAAAA, dns.RcodeSuccess, "AAAA fd00::3"},
		{"primary.web.service.grapevine.", dns.TypeA, dns.RcodeSuccess, "A 10.0.0.1"},
		{"_web._tcp.service.grapevine.", dns.TypeSRV, dns.RcodeSuccess,
			"SRV 0a000001.addr.grapevine. 8080|SRV 0a000002.addr.grapevine. 8081|SRV fd000000000000000000000000000003.addr.grapevine. 8082"},
		{"_web._canary.service.grapevine.", dns.TypeSRV, dns.RcodeSuccess, "SRV 0a000002.addr.grapevine. 8081"},
		{"n1.node.grapevine.", dns.TypeA, dns.RcodeSuccess, "A 192.168.1.1"},
		{"empty.service.grapevine.", dns.TypeA, dns.RcodeSuccess, ""},
		{"nope.service.grapevine.", dns.TypeA, dns.RcodeNameError, ""},
		{"n9.node.grapevine.", dns.TypeA, dns.RcodeNameError, ""},
		{"example.com.", dns.TypeA, dns.RcodeNameError, ""},
		{"a.b.c.d.service.grapevine.", dns.TypeA, dns.RcodeNameError, ""},
	}
	for _, tt := range tests {
		for _, net := range []string{"udp", "tcp"} {
			r := query(t, s, tt.name, tt.qtype, net)
			if r.Rcode != tt.rcode {
				t.Errorf("%s %s over %s: rcode %s, want %s", tt.name, dns.TypeToString[tt.qtype], net,
					dns.RcodeToString[r.Rcode], dns.RcodeToString[tt.rcode])
			}
			if got := strings.Join(answers(r), "|"); got != tt.want {
				t.Errorf("%s %s over %s:\n got %s\nwant %s", tt.name, dns.TypeToString[tt.qtype], net, got, tt.want)
			}
			if len(r.Answer) == 0 && len(r.Ns) != 1 {
				t.Errorf("%s: empty answer without SOA", tt.name)
			}
		}
	}
	// SRV answers carry the addresses in Additional.
	r := query(t, s, "_web._tcp.service.grapevine.", dns.TypeSRV, "udp")
	if len(r.Extra) != 3 {
		t.Errorf("SRV additional records: %d, want 3", len(r.Extra))
	}
}

func TestDNSTruncatesOverUDP(t *testing.T) {
	src := fakeDNSSource{services: map[string][]dnsTarget{"big": nil}}
	for i := range 100 {
		src.services["big"] = append(src.services["big"], dnsTarget{ID: strconv.Itoa(i), Address: "10.0.1." + strconv.Itoa(i), Port: 1})
	}
	s, err := startDNS("127.0.0.1:0", src, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	defer s.close(context.Background())
	m := new(dns.Msg)
	m.SetQuestion("big.service.grapevine.", dns.TypeA)
	r, _, err := (&dns.Client{Net: "udp"}).Exchange(m, s.Addr())
	if err != nil && r == nil {
		t.Fatal(err)
	}
	r.Compress = true
	if !r.Truncated || r.Len() > dns.MinMsgSize || len(r.Answer) >= 100 {
		t.Errorf("udp answer of %d bytes, truncated %v", r.Len(), r.Truncated)
	}
	r, _, err = (&dns.Client{Net: "tcp"}).Exchange(m, s.Addr())
	if err != nil || len(r.Answer) != 100 {
		t.Errorf("tcp: %v, %d answers", err, len(r.Answer))
	}
}

func FuzzParseDNSName(f *testing.F) {
	for _, s := range []string{"web.service.grapevine.", "_a._tcp.service.grapevine", "x.node.grapevine.", "..", "_._.service.grapevine."} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := parseDNSName(s)
		if err == nil && n.kind == "service" && n.service == "" {
			t.Fatalf("%q parsed to an empty service", s)
		}
	})
}

// FuzzDNSAnswer feeds arbitrary wire messages to the answer path: it never panics.
func FuzzDNSAnswer(f *testing.F) {
	m := new(dns.Msg)
	m.SetQuestion("web.service.grapevine.", dns.TypeSRV)
	b, _ := m.Pack()
	f.Add(b)
	s := &dnsServer{src: fakeDNSSource{services: map[string][]dnsTarget{"web": {{ID: "a", Address: "10.0.0.1", Port: 1}}}}}
	s.rng = testRNG()
	f.Fuzz(func(t *testing.T, b []byte) {
		req := new(dns.Msg)
		if err := req.Unpack(b); err != nil {
			return
		}
		resp := s.answer(req)
		if _, err := resp.Pack(); err != nil {
			t.Fatalf("answer does not pack: %v", err)
		}
	})
}

func testRNG() *rand.Rand { return rand.New(rand.NewPCG(1, 2)) }
