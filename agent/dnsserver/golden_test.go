package dnsserver

import (
	"encoding/binary"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// goldenCase is one query of the golden test.
type goldenCase struct {
	name  string
	qtype uint16
	net   string // udp (default) or tcp
	edns  int    // advertised UDP size; 0 = no EDNS, -1 = EDNS version 1
	class uint16
	// summary prints counts and size only: the records are a random subset.
	summary bool
}

var goldenCases = []goldenCase{
	{name: "web.service.grapevine.", qtype: dns.TypeA},
	{name: "web.service.grapevine.", qtype: dns.TypeAAAA},
	{name: "web.service.grapevine.", qtype: dns.TypeSRV, edns: 1232},
	{name: "web.service.grapevine.", qtype: dns.TypeANY, edns: 1232},
	{name: "web.service.grapevine.", qtype: dns.TypeTXT},
	{name: "WeB.SeRvIcE.GrApEvInE.", qtype: dns.TypeA},
	{name: "primary.web.service.grapevine.", qtype: dns.TypeA},
	{name: "canary.web.service.grapevine.", qtype: dns.TypeA},
	{name: "nosuchtag.web.service.grapevine.", qtype: dns.TypeA},
	{name: "web.service.z1.grapevine.", qtype: dns.TypeA},
	{name: "web.service.z2.grapevine.", qtype: dns.TypeAAAA},
	{name: "primary.web.service.z1.grapevine.", qtype: dns.TypeA},
	{name: "_web._tcp.service.grapevine.", qtype: dns.TypeSRV, edns: 1232},
	{name: "_web._udp.service.grapevine.", qtype: dns.TypeSRV, edns: 1232},
	{name: "_web._primary.service.grapevine.", qtype: dns.TypeSRV, edns: 1232},
	{name: "_web._tcp.service.z2.grapevine.", qtype: dns.TypeSRV, edns: 1232},
	{name: "_web._tcp.service.grapevine.", qtype: dns.TypeA},
	{name: "_web._tcp.service.grapevine.", qtype: dns.TypeANY, edns: 1232},
	{name: "db.service.grapevine.", qtype: dns.TypeA, edns: 1232},
	{name: "db.service.grapevine.", qtype: dns.TypeAAAA},
	{name: "db.service.grapevine.", qtype: dns.TypeSRV, edns: 1232},
	{name: "api.service.grapevine.", qtype: dns.TypeA},
	{name: "old.service.grapevine.", qtype: dns.TypeA},
	{name: "empty.service.grapevine.", qtype: dns.TypeA},
	{name: "nope.service.grapevine.", qtype: dns.TypeA},
	{name: "tag.nope.service.grapevine.", qtype: dns.TypeA},
	{name: "bad_name.service.grapevine.", qtype: dns.TypeA},
	{name: "grapevine.", qtype: dns.TypeSOA},
	{name: "grapevine.", qtype: dns.TypeNS},
	{name: "grapevine.", qtype: dns.TypeANY},
	{name: "grapevine.", qtype: dns.TypeA},
	{name: "ns.grapevine.", qtype: dns.TypeA},
	{name: "service.grapevine.", qtype: dns.TypeA},
	{name: "node.grapevine.", qtype: dns.TypeA},
	{name: "z1.grapevine.", qtype: dns.TypeSRV},
	{name: "service.z1.grapevine.", qtype: dns.TypeA},
	{name: "a.b.grapevine.", qtype: dns.TypeA},
	{name: "n1.node.grapevine.", qtype: dns.TypeA},
	{name: "n2.node.grapevine.", qtype: dns.TypeA},
	{name: "n1.node.grapevine.", qtype: dns.TypeAAAA},
	{name: "node.with.dots.node.grapevine.", qtype: dns.TypeA},
	{name: "n1.node.z9.grapevine.", qtype: dns.TypeA},
	{name: "n9.node.grapevine.", qtype: dns.TypeA},
	{name: "0a000001.addr.grapevine.", qtype: dns.TypeA},
	{name: "fd000000000000000000000000000003.addr.grapevine.", qtype: dns.TypeAAAA},
	{name: "0a000001.addr.grapevine.", qtype: dns.TypeAAAA},
	{name: "zz000001.addr.grapevine.", qtype: dns.TypeA},
	{name: "web.service.consul.", qtype: dns.TypeA},
	{name: "web.service.z2.consul.", qtype: dns.TypeA},
	{name: "web.service.dc1.consul.", qtype: dns.TypeA},
	{name: "_web._tcp.service.consul.", qtype: dns.TypeSRV, edns: 1232},
	{name: "db.service.consul.", qtype: dns.TypeSRV, edns: 1232},
	{name: "n1.node.consul.", qtype: dns.TypeA},
	{name: "consul.", qtype: dns.TypeSOA},
	{name: "example.com.", qtype: dns.TypeA},
	{name: "grapevine.example.", qtype: dns.TypeA},
	{name: "web.service.grapevine.", qtype: dns.TypeA, edns: -1},
	{name: "web.service.grapevine.", qtype: dns.TypeA, class: dns.ClassCHAOS},
	{name: "grapevine.", qtype: dns.TypeAXFR, net: "tcp"},
	{name: "big.service.grapevine.", qtype: dns.TypeA, summary: true},
	{name: "big.service.grapevine.", qtype: dns.TypeSRV, summary: true},
	{name: "big.service.grapevine.", qtype: dns.TypeSRV, edns: 512, summary: true},
	{name: "big.service.grapevine.", qtype: dns.TypeSRV, edns: 65535, summary: true},
	{name: "big.service.grapevine.", qtype: dns.TypeA, edns: 4096, summary: true},
	{name: "big.service.grapevine.", qtype: dns.TypeSRV, net: "tcp", summary: true},
}

func (c goldenCase) String() string {
	s := strings.TrimSuffix(c.name, ".") + " " + dns.TypeToString[c.qtype]
	if c.net == "tcp" {
		s += " +tcp"
	}
	switch {
	case c.edns > 0:
		s += fmt.Sprintf(" +bufsize=%d", c.edns)
	case c.edns < 0:
		s += " +edns=1"
	}
	if c.class != 0 {
		s += " class " + dns.ClassToString[c.class]
	}
	return s
}

func (c goldenCase) msg() *dns.Msg {
	m := new(dns.Msg)
	m.SetQuestion(c.name, c.qtype)
	m.RecursionDesired = false
	if c.class != 0 {
		m.Question[0].Qclass = c.class
	}
	switch {
	case c.edns > 0:
		m.SetEdns0(uint16(c.edns), false)
	case c.edns < 0:
		m.SetEdns0(1232, false)
		m.IsEdns0().SetVersion(1)
	}
	return m
}

// digText prints a response as dig does, its sections sorted (answers are
// shuffled per query) and its ID zeroed.
func digText(r *dns.Msg, size int, summary bool) string {
	r.Id = 0
	if summary {
		h := strings.SplitAfterN(r.String(), "\n", 3)
		return h[0] + h[1] + fmt.Sprintf(";; MSG SIZE  rcvd: %d\n", size)
	}
	sortRRs := func(rrs []dns.RR) {
		slices.SortFunc(rrs, func(a, b dns.RR) int { return strings.Compare(a.String(), b.String()) })
	}
	sortRRs(r.Answer)
	sortRRs(r.Ns)
	sortRRs(r.Extra)
	return r.String() + fmt.Sprintf(";; MSG SIZE  rcvd: %d\n", size)
}

// exchange sends m over network and returns the answer and its size on
// the wire.
func exchange(t testing.TB, addr string, m *dns.Msg, network string) (*dns.Msg, int) {
	t.Helper()
	b, err := m.Pack()
	if err != nil {
		t.Fatal(err)
	}
	raw := rawExchange(t, addr, b, network)
	if raw == nil {
		t.Fatalf("%s: no answer", m.Question[0].String())
	}
	r := new(dns.Msg)
	if err := r.Unpack(raw); err != nil {
		t.Fatalf("%s: answer does not parse: %v", m.Question[0].String(), err)
	}
	return r, len(raw)
}

// rawExchange sends one packet and returns the raw answer; nil if none came
// within 3 s.
func rawExchange(t testing.TB, addr string, pkt []byte, network string) []byte {
	t.Helper()
	return rawExchangeWithin(t, addr, pkt, network, 3*time.Second)
}

func rawExchangeWithin(t testing.TB, addr string, pkt []byte, network string, d time.Duration) []byte {
	t.Helper()
	c, err := net.Dial(network, addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(d))
	if network == "tcp" {
		pkt = append(binary.BigEndian.AppendUint16(nil, uint16(len(pkt))), pkt...)
	}
	if _, err := c.Write(pkt); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 65537)
	if network == "tcp" {
		if _, err := io.ReadFull(c, buf[:2]); err != nil {
			return nil
		}
		n := int(binary.BigEndian.Uint16(buf))
		if _, err := io.ReadFull(c, buf[:n]); err != nil {
			t.Fatal(err)
		}
		return buf[:n]
	}
	n, err := c.Read(buf)
	if err != nil {
		return nil
	}
	return buf[:n]
}

// TestGolden queries every name form over the network and compares the
// answers with testdata/golden.txt (go test -run TestGolden -update).
func TestGolden(t *testing.T) {
	s := startServer(t, testConfig(testSource()))
	var b strings.Builder
	for _, c := range goldenCases {
		network := c.net
		if network == "" {
			network = "udp"
		}
		r, size := exchange(t, s.Addr(), c.msg(), network)
		checkWellFormed(t, c.String(), r, size)
		fmt.Fprintf(&b, "# dig %s\n%s\n", c, digText(r, size, c.summary))
	}
	path := filepath.Join("testdata", "golden.txt")
	if *update {
		if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if got := b.String(); got != string(want) {
		gl, wl := strings.Split(got, "\n"), strings.Split(string(want), "\n")
		for i := range min(len(gl), len(wl)) {
			if gl[i] != wl[i] {
				t.Fatalf("golden mismatch at line %d:\n got %s\nwant %s\n(run with -update after checking)", i+1, gl[i], wl[i])
			}
		}
		t.Fatalf("golden mismatch: %d lines, want %d", len(gl), len(wl))
	}
}

// checkWellFormed asserts the rules every answer follows: no duplicate
// record in any section, no CNAME, one TTL per RRset, a SOA with negative
// answers, the question echoed.
func checkWellFormed(t testing.TB, what string, r *dns.Msg, size int) {
	t.Helper()
	for name, sec := range map[string][]dns.RR{"answer": r.Answer, "authority": r.Ns, "additional": r.Extra} {
		seen := map[string]bool{}
		ttls := map[string]uint32{}
		for _, rr := range sec {
			h := rr.Header()
			cp := dns.Copy(rr)
			cp.Header().Ttl = 0
			cp.Header().Name = strings.ToLower(cp.Header().Name)
			k := cp.String()
			if seen[k] {
				t.Errorf("%s: duplicate %s record %s", what, name, rr)
			}
			seen[k] = true
			if h.Rrtype == dns.TypeCNAME {
				t.Errorf("%s: CNAME %s", what, rr)
			}
			set := strings.ToLower(h.Name) + "/" + dns.TypeToString[h.Rrtype]
			if ttl, ok := ttls[set]; ok && ttl != h.Ttl && h.Rrtype != dns.TypeOPT {
				t.Errorf("%s: RRset %s has TTLs %d and %d", what, set, ttl, h.Ttl)
			}
			ttls[set] = h.Ttl
		}
	}
	if (r.Rcode == dns.RcodeNameError || r.Rcode == dns.RcodeSuccess && len(r.Answer) == 0 && !r.Truncated) && r.Authoritative {
		if len(r.Ns) != 1 || r.Ns[0].Header().Rrtype != dns.TypeSOA {
			t.Errorf("%s: negative answer without one SOA: %v", what, r.Ns)
		} else if soa := r.Ns[0].(*dns.SOA); soa.Hdr.Ttl != soa.Minttl {
			t.Errorf("%s: SOA TTL %d, MINIMUM %d", what, soa.Hdr.Ttl, soa.Minttl)
		}
	}
	if r.Rcode != dns.RcodeFormatError && len(r.Question) != 1 {
		t.Errorf("%s: %d questions in the answer", what, len(r.Question))
	}
}
