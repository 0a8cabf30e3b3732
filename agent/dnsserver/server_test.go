package dnsserver

import (
	"context"
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/grapevine-sd/grapevine/internal/leaktest"
	"github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func msgFor(name string, qtype uint16, edns int) *dns.Msg {
	return goldenCase{name: name, qtype: qtype, edns: edns}.msg()
}

// TestZoneFirstThenShuffled: the asker's zone (z1) comes first, every
// instance of a group gets to be first.
func TestZoneFirstThenShuffled(t *testing.T) {
	src := newFakeSource()
	var insts []Instance
	for i := range 4 {
		insts = append(insts, Instance{Node: "a", Address: netip.AddrFrom4([4]byte{10, 0, 1, byte(i + 1)}).String(), Port: 1, Zone: "z1"})
		insts = append(insts, Instance{Node: "b", Address: netip.AddrFrom4([4]byte{10, 0, 2, byte(i + 1)}).String(), Port: 1, Zone: "Z2"})
	}
	src.set("web", insts...)
	s := startServer(t, testConfig(src))
	for _, qt := range []uint16{dns.TypeA, dns.TypeSRV} {
		firsts, afterZone := map[string]int{}, map[string]int{}
		for range 200 {
			r, _ := exchange(t, s.Addr(), msgFor("web.service.grapevine.", qt, 1232), "udp")
			if len(r.Answer) != 8 {
				t.Fatalf("%d answers, want 8", len(r.Answer))
			}
			var order []string
			for _, rr := range r.Answer {
				switch v := rr.(type) {
				case *dns.A:
					order = append(order, v.A.String())
				case *dns.SRV:
					order = append(order, v.Target)
				}
			}
			for i, a := range order {
				own := strings.HasPrefix(a, "10.0.1.") || strings.HasPrefix(a, "0a0001")
				if own != (i < 4) {
					t.Fatalf("%s: zone z1 not first: %v", dns.TypeToString[qt], order)
				}
			}
			firsts[order[0]]++
			afterZone[order[4]]++
		}
		if len(firsts) != 4 || len(afterZone) != 4 {
			t.Errorf("%s: first places %v, fifth places %v: want each of 4 instances", dns.TypeToString[qt], firsts, afterZone)
		}
		for a, n := range firsts {
			if n < 20 { // expected 50 of 200
				t.Errorf("%s: %s first %d times of 200", dns.TypeToString[qt], a, n)
			}
		}
	}
}

// TestAnswerFollowsCatalog: an answer is rebuilt when the service's index
// moves, and only then.
func TestAnswerFollowsCatalog(t *testing.T) {
	src := newFakeSource()
	src.set("web", Instance{Node: "a", Address: "10.0.0.1", Port: 1})
	s := startServer(t, testConfig(src))
	ask := func() []string {
		r, _ := exchange(t, s.Addr(), msgFor("web.service.grapevine.", dns.TypeA, 0), "udp")
		var out []string
		for _, rr := range r.Answer {
			out = append(out, rr.(*dns.A).A.String())
		}
		return out
	}
	if got := ask(); len(got) != 1 || got[0] != "10.0.0.1" {
		t.Fatalf("got %v", got)
	}
	calls := src.calls.Load()
	for range 10 {
		ask()
	}
	if n := src.calls.Load() - calls; n != 0 {
		t.Errorf("%d catalog reads for 10 cached answers, want 0", n)
	}
	src.set("web", Instance{Node: "a", Address: "10.0.0.2", Port: 1})
	if got := ask(); len(got) != 1 || got[0] != "10.0.0.2" {
		t.Fatalf("after a change: got %v", got)
	}
	src.set("web")
	r, _ := exchange(t, s.Addr(), msgFor("web.service.grapevine.", dns.TypeA, 0), "udp")
	if r.Rcode != dns.RcodeSuccess || len(r.Answer) != 0 || len(r.Ns) != 1 {
		t.Errorf("emptied service: %v", r)
	}
	// A service unknown (NXDOMAIN) is answered once it appears.
	if r, _ := exchange(t, s.Addr(), msgFor("late.service.grapevine.", dns.TypeA, 0), "udp"); r.Rcode != dns.RcodeNameError {
		t.Errorf("late before: %v", r)
	}
	src.set("late", Instance{Node: "a", Address: "10.0.0.7", Port: 1})
	if r, _ := exchange(t, s.Addr(), msgFor("late.service.grapevine.", dns.TypeA, 0), "udp"); len(r.Answer) != 1 {
		t.Errorf("late after: %v", r)
	}
	// Node addresses: a node answer follows Version.
	src.setNode("n1", "10.1.1.1")
	if r, _ = exchange(t, s.Addr(), msgFor("n1.node.grapevine.", dns.TypeA, 0), "udp"); len(r.Answer) != 1 || r.Answer[0].(*dns.A).A.String() != "10.1.1.1" {
		t.Errorf("node: %v", r.Answer)
	}
	src.setNode("n1", "10.1.1.2")
	r, _ = exchange(t, s.Addr(), msgFor("n1.node.grapevine.", dns.TypeA, 0), "udp")
	if len(r.Answer) != 1 || r.Answer[0].(*dns.A).A.String() != "10.1.1.2" {
		t.Errorf("node after an address change: %v", r.Answer)
	}
}

// TestTruncation: UDP answers never exceed min(max(advertised, 512),
// max_udp_size); when answers do not fit, none are sent and TC is set, and
// TCP has them all.
func TestTruncation(t *testing.T) {
	s := startServer(t, testConfig(testSource()))
	for _, qt := range []uint16{dns.TypeA, dns.TypeSRV, dns.TypeANY} {
		for _, size := range []int{0, 1, 511, 512, 700, 1232, 1233, 4096, 32767, 65535} {
			name := "big.service.grapevine."
			if qt == dns.TypeANY {
				name = "_big._tcp.service.grapevine."
			}
			m := msgFor(name, qt, size)
			b, _ := m.Pack()
			r, n := exchange(t, s.Addr(), m, "udp")
			limit := 512
			if size > 0 {
				limit = min(max(size, 512), 1232)
			}
			if n > limit {
				t.Errorf("%s bufsize %d: %d bytes, limit %d", dns.TypeToString[qt], size, n, limit)
			}
			if size == 0 {
				if r.Truncated || len(r.Answer) != 3 {
					t.Errorf("%s without EDNS: tc %v, %d answers; want 3 answers (udp_answer_limit)", dns.TypeToString[qt], r.Truncated, len(r.Answer))
				}
				continue
			}
			if !r.Truncated || len(r.Answer) != 0 || n > len(b) {
				t.Errorf("%s bufsize %d: tc %v, %d answers, %d bytes for a %d-byte query", dns.TypeToString[qt], size, r.Truncated, len(r.Answer), n, len(b))
			}
		}
		r, _ := exchange(t, s.Addr(), msgFor("big.service.grapevine.", qt, 0), "tcp")
		if qt != dns.TypeANY && (r.Truncated || len(r.Answer) != 200) {
			t.Errorf("%s over tcp: tc %v, %d answers", dns.TypeToString[qt], r.Truncated, len(r.Answer))
		}
	}
}

// TestAnswerLimitOff: udp_answer_limit 0 sends all that fits in 512 bytes.
func TestAnswerLimitOff(t *testing.T) {
	c := testConfig(testSource())
	c.UDPAnswerLimit = 0
	s := startServer(t, c)
	r, n := exchange(t, s.Addr(), msgFor("web.service.grapevine.", dns.TypeSRV, 0), "udp")
	if len(r.Answer) != 4 || n > 512 {
		t.Errorf("%d answers in %d bytes", len(r.Answer), n)
	}
	r, _ = exchange(t, s.Addr(), msgFor("big.service.grapevine.", dns.TypeA, 0), "udp")
	if !r.Truncated {
		t.Errorf("200 A records in 512 bytes without TC")
	}
}

// TestMalformed: packets that are not queries get no answer or FORMERR/NOTIMP,
// and the server keeps answering.
func TestMalformed(t *testing.T) {
	s := startServer(t, testConfig(testSource()))
	good, _ := msgFor("web.service.grapevine.", dns.TypeA, 0).Pack()
	resp := func(b []byte) []byte {
		m := append([]byte(nil), good...)
		copy(m, b)
		return m
	}
	twoOPT := msgFor("web.service.grapevine.", dns.TypeA, 1232)
	twoOPT.Extra = append(twoOPT.Extra, dns.Copy(twoOPT.Extra[0]))
	twoOPTb, _ := twoOPT.Pack()
	notify := new(dns.Msg)
	notify.SetNotify("grapevine.")
	notifyb, _ := notify.Pack()
	tests := []struct {
		name  string
		pkt   []byte
		rcode int // -1: no answer
	}{
		{"empty", nil, -1},
		{"short", good[:11], -1},
		{"response", resp([]byte{0, 0, 0x80}), -1},
		{"two questions", resp([]byte{0, 0, 0, 0, 0, 2}), dns.RcodeFormatError},
		{"no question", resp([]byte{0, 0, 0, 0, 0, 0}), dns.RcodeFormatError},
		{"answer count", resp([]byte{0, 0, 0, 0, 0, 1, 0, 1}), dns.RcodeFormatError},
		{"cut name", good[:20], dns.RcodeFormatError},
		{"cut type", good[:len(good)-2], dns.RcodeFormatError},
		{"pointer in question", append(append([]byte(nil), good[:12]...), 0xC0, 12, 0, 1, 0, 1), dns.RcodeFormatError},
		{"two OPT", twoOPTb, dns.RcodeFormatError},
		{"notify", notifyb, dns.RcodeNotImplemented},
		{"qtype OPT", mustPack(msgFor("web.service.grapevine.", dns.TypeOPT, 0)), dns.RcodeFormatError},
		{"qtype TSIG", mustPack(msgFor("web.service.grapevine.", dns.TypeTSIG, 0)), dns.RcodeNotImplemented},
	}
	for _, tt := range tests {
		wait := 3 * time.Second
		if tt.rcode < 0 {
			wait = 200 * time.Millisecond
		}
		raw := rawExchangeWithin(t, s.Addr(), tt.pkt, "udp", wait)
		if tt.rcode < 0 {
			if raw != nil {
				t.Errorf("%s: answered %x", tt.name, raw)
			}
			continue
		}
		r := new(dns.Msg)
		if err := r.Unpack(raw); err != nil {
			t.Errorf("%s: answer %x does not parse: %v", tt.name, raw, err)
			continue
		}
		if r.Rcode != tt.rcode || !r.Response {
			t.Errorf("%s: rcode %s, want %s", tt.name, dns.RcodeToString[r.Rcode], dns.RcodeToString[tt.rcode])
		}
	}
	if r, _ := exchange(t, s.Addr(), msgFor("web.service.grapevine.", dns.TypeA, 0), "udp"); len(r.Answer) != 2 {
		t.Errorf("after garbage: %v", r)
	}
	// TCP: garbage closes the connection; a good query after it on a new one works.
	if raw := rawExchangeWithin(t, s.Addr(), good[:5], "tcp", 200*time.Millisecond); raw != nil {
		t.Errorf("tcp garbage answered")
	}
	if r, _ := exchange(t, s.Addr(), msgFor("web.service.grapevine.", dns.TypeA, 0), "tcp"); len(r.Answer) != 2 {
		t.Errorf("tcp after garbage: %v", r)
	}
}

func mustPack(m *dns.Msg) []byte {
	b, err := m.Pack()
	if err != nil {
		panic(err)
	}
	return b
}

// TestDOBitCopied: RFC 3225 — the DO bit of the query is copied.
func TestDOBitCopied(t *testing.T) {
	s := startServer(t, testConfig(testSource()))
	m := msgFor("web.service.grapevine.", dns.TypeA, 1232)
	m.IsEdns0().SetDo()
	r, _ := exchange(t, s.Addr(), m, "udp")
	if o := r.IsEdns0(); o == nil || !o.Do() || o.UDPSize() != 1232 {
		t.Errorf("OPT %v", o)
	}
}

// TestTCPPipelined: several queries on one connection are answered in order.
func TestTCPPipelined(t *testing.T) {
	s := startServer(t, testConfig(testSource()))
	c, err := net.Dial("tcp", s.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	co := &dns.Conn{Conn: c}
	for i := range 5 {
		m := msgFor("web.service.grapevine.", dns.TypeA, 0)
		m.Id = uint16(100 + i)
		if err := co.WriteMsg(m); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 5 {
		r, err := co.ReadMsg()
		if err != nil {
			t.Fatal(err)
		}
		if r.Id != uint16(100+i) || len(r.Answer) != 2 {
			t.Errorf("answer %d: id %d, %d answers", i, r.Id, len(r.Answer))
		}
	}
}

// TestRateLimit: one prefix gets its burst, then every second limited answer
// is an empty TC answer; another prefix is not affected.
func TestRateLimit(t *testing.T) {
	c := testConfig(testSource())
	c.RateLimit.PerSecond = 1
	c.RateLimit.Burst = 5
	now := time.Unix(1700000000, 0)
	c.Now = func() time.Time { return now }
	s := startServer(t, c)
	w := newWorker(&stats{}, 65535)
	pkt := mustPack(msgFor("web.service.grapevine.", dns.TypeA, 0))
	client := netip.MustParseAddr("192.0.2.7")
	var answered, slipped, dropped int
	for range 25 {
		out := s.respond(w, pkt, true, client)
		switch {
		case out == nil:
			dropped++
		case out[2]&0x02 != 0:
			slipped++
			if len(out) > len(pkt) {
				t.Errorf("slip answer of %d bytes for %d", len(out), len(pkt))
			}
		default:
			answered++
		}
	}
	if answered != 5 || slipped != 10 || dropped != 10 {
		t.Errorf("answered %d, slipped %d, dropped %d; want 5, 10, 10", answered, slipped, dropped)
	}
	if s.respond(w, pkt, true, netip.MustParseAddr("192.0.3.7")) == nil {
		t.Error("another /24 limited")
	}
	if s.respond(w, pkt, false, client) == nil {
		t.Error("TCP limited")
	}
	now = now.Add(2 * time.Second)
	if out := s.respond(w, pkt, true, netip.MustParseAddr("192.0.2.200")); out == nil || out[2]&0x02 != 0 {
		t.Error("no answer after the bucket refilled")
	}
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(s)
	if _, err := testutil.GatherAndCount(reg); err != nil {
		t.Fatal(err)
	}
}

// TestRateLimitTableBounded: a flood of distinct prefixes keeps the table
// size and never blocks an answer forever.
func TestRateLimitTableBounded(t *testing.T) {
	l := newLimiter(RateLimitConfig{PerSecond: 1, Burst: 1, IPv4PrefixLen: 24, IPv6PrefixLen: 56, Slip: 0, Table: 64})
	now := time.Unix(0, 0)
	for i := range 100000 {
		a := netip.AddrFrom4([4]byte{byte(i >> 16), byte(i >> 8), byte(i), 1})
		l.allow(a, now)
	}
	if len(l.slots) != 64 {
		t.Errorf("%d slots", len(l.slots))
	}
	v6 := netip.MustParseAddr("2001:db8::1")
	if l.allow(v6, now) != rrlAllow || l.allow(netip.MustParseAddr("2001:db8:0:ff::2"), now) != rrlDrop {
		t.Error("a /56 does not share its bucket")
	}
}

// TestHostNames: an instance registered with a host name is answered with
// the host's addresses (waited for the first time, cached after), never a
// CNAME; a failing lookup leaves the other records.
func TestHostNames(t *testing.T) {
	src := newFakeSource()
	src.set("web",
		Instance{Node: "a", Address: "app.example.com", Port: 1},
		Instance{Node: "b", Address: "gone.example.com", Port: 1},
		Instance{Node: "c", Address: "10.0.0.1", Port: 1})
	c := testConfig(src)
	res := &fakeResolver{hosts: map[string][]netip.Addr{"app.example.com": {netip.MustParseAddr("10.5.5.5")}}, delay: 50 * time.Millisecond}
	c.Resolver = res
	s := startServer(t, c)
	for range 3 {
		r, _ := exchange(t, s.Addr(), msgFor("web.service.grapevine.", dns.TypeA, 0), "udp")
		got := map[string]bool{}
		for _, rr := range r.Answer {
			got[rr.(*dns.A).A.String()] = true
		}
		if len(got) != 2 || !got["10.5.5.5"] || !got["10.0.0.1"] {
			t.Errorf("answers %v", r.Answer)
		}
	}
	if n := res.count("app.example.com"); n != 1 {
		t.Errorf("resolver asked %d times, want 1", n)
	}
	// A slow resolver: the query waits at most hostWait, then answers what it has.
	res.mu.Lock()
	res.delay = 3 * time.Second
	res.mu.Unlock()
	src.set("slow", Instance{Node: "a", Address: "slow.example.com", Port: 1}, Instance{Node: "c", Address: "10.0.0.9", Port: 1})
	start := time.Now()
	r, _ := exchange(t, s.Addr(), msgFor("slow.service.grapevine.", dns.TypeA, 0), "tcp")
	if d := time.Since(start); d > hostWait+500*time.Millisecond || len(r.Answer) != 1 {
		t.Errorf("slow resolver: %v, answers %v", d, r.Answer)
	}
}

// TestZeroAllocs: a cached answer costs no allocation.
func TestZeroAllocs(t *testing.T) {
	if testing.Short() {
		t.Skip("short")
	}
	s := startServer(t, testConfig(testSource()))
	w := newWorker(&stats{}, 65535)
	client := netip.MustParseAddr("127.0.0.1")
	for _, m := range []*dns.Msg{
		msgFor("web.service.grapevine.", dns.TypeA, 0),
		msgFor("WEB.service.grapevine.", dns.TypeSRV, 1232),
		msgFor("nope.service.grapevine.", dns.TypeA, 1232),
		msgFor("example.com.", dns.TypeA, 0),
		msgFor("big.service.grapevine.", dns.TypeSRV, 65535),
	} {
		pkt := mustPack(m)
		s.respond(w, pkt, true, client)
		if n := testing.AllocsPerRun(200, func() { s.respond(w, pkt, true, client) }); n != 0 {
			t.Errorf("%s: %.1f allocations per query", m.Question[0].String(), n)
		}
	}
}

// TestCloseStopsEverything: Close ends every goroutine, also with open TCP
// connections and a host lookup in flight.
func TestCloseStopsEverything(t *testing.T) {
	before := leaktest.Take()
	src := newFakeSource()
	src.set("web", Instance{Node: "a", Address: "slow.example.com", Port: 1})
	c := testConfig(src)
	c.Resolver = &fakeResolver{delay: time.Hour}
	s, err := New(c)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := net.Dial("tcp", s.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	pkt := mustPack(msgFor("web.service.grapevine.", dns.TypeA, 0))
	uc, _ := net.Dial("udp", s.Addr())
	uc.Write(pkt)
	uc.Close()
	time.Sleep(10 * time.Millisecond)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if err := s.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(ctx); err != nil {
		t.Fatal("second Close:", err)
	}
	if err := before.Wait(10 * time.Second); err != nil {
		t.Error(err)
	}
}

// TestTCPConnectionLimit: connections beyond the limit are closed at once.
func TestTCPConnectionLimit(t *testing.T) {
	cfg := testConfig(testSource())
	cfg.clientKey = perAddress // loopback addresses as distinct clients
	s := startServer(t, cfg)
	var conns []net.Conn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	// From many client addresses: one address alone meets maxTCPPerIP first.
	src := func(i int) string { return fmt.Sprintf("127.0.%d.%d", 1+i/maxTCPPerIP/200, 1+(i/maxTCPPerIP)%200) }
	for i := range maxTCPConns {
		conns = append(conns, dialFrom(t, src(i), s.Addr()))
	}
	deadline := time.Now().Add(15 * time.Second)
	for s.tcpRejected.Load() == 0 && time.Now().Before(deadline) {
		c, err := (&net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.9.9")}}).Dial("tcp", s.Addr())
		if err == nil {
			c.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
			c.Read(make([]byte, 1))
			c.Close()
		}
	}
	if s.tcpRejected.Load() == 0 {
		t.Error("no connection rejected over the limit")
	}
	_ = binary.BigEndian
}

// TestWildcardReplySource: a server bound to all addresses answers from the
// address a query was sent to (a connected client drops other replies).
func TestWildcardReplySource(t *testing.T) {
	c := testConfig(testSource())
	c.Addr = "0.0.0.0:0"
	s := startServer(t, c)
	_, port, _ := net.SplitHostPort(s.Addr())
	for _, ip := range []string{"127.0.0.1", "127.0.0.2", "127.1.2.3"} {
		addr := net.JoinHostPort(ip, port)
		r, _ := exchange(t, addr, msgFor("web.service.grapevine.", dns.TypeA, 0), "udp")
		if len(r.Answer) != 2 {
			t.Errorf("via %s: %v", ip, r)
		}
	}
}

// TestTCPOverflow: an answer larger than a TCP message carries what fits,
// with TC set.
func TestTCPOverflow(t *testing.T) {
	src := newFakeSource()
	var insts []Instance
	for i := range 5000 {
		insts = append(insts, Instance{Node: "n", Address: netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}).String(), Port: 1})
	}
	src.set("huge", insts...)
	s := startServer(t, testConfig(src))
	r, n := exchange(t, s.Addr(), msgFor("huge.service.grapevine.", dns.TypeA, 0), "tcp")
	if !r.Truncated || len(r.Answer) < 4000 || n > 65535 {
		t.Errorf("tc %v, %d answers, %d bytes", r.Truncated, len(r.Answer), n)
	}
}

// TestTTLs: an RRset's TTL is the smallest of its instances': stale_ttl for
// a stale one, else meta dns_ttl, else service_ttl.
func TestTTLs(t *testing.T) {
	fresh := Instance{Node: "a", Address: "10.0.0.1", Port: 1}
	stale := Instance{Node: "b", Address: "10.0.0.2", Port: 1, Stale: true}
	long := Instance{Node: "c", Address: "10.0.0.3", Port: 1, TTL: 60}
	tests := []struct {
		name         string
		service, old time.Duration
		insts        []Instance
		want         uint32
	}{
		{"fresh", 5 * time.Second, time.Second, []Instance{fresh}, 5},
		{"stale only", 5 * time.Second, time.Second, []Instance{stale}, 1},
		{"stale and fresh", 5 * time.Second, time.Second, []Instance{fresh, stale}, 1},
		{"long stale ttl, stale only", 5 * time.Second, 30 * time.Second, []Instance{stale}, 30},
		{"long stale ttl, mixed", 5 * time.Second, 30 * time.Second, []Instance{fresh, stale}, 5},
		{"dns_ttl", 5 * time.Second, time.Second, []Instance{long}, 60},
		{"dns_ttl and fresh", 5 * time.Second, time.Second, []Instance{long, fresh}, 5},
		{"zero", 0, 0, []Instance{fresh, stale}, 0},
	}
	for _, tt := range tests {
		src := newFakeSource()
		src.set("web", tt.insts...)
		c := testConfig(src)
		c.ServiceTTL, c.StaleTTL = tt.service, tt.old
		s := startServer(t, c)
		for _, qt := range []uint16{dns.TypeA, dns.TypeSRV} {
			r, _ := exchange(t, s.Addr(), msgFor("web.service.grapevine.", qt, 1232), "udp")
			for _, rr := range append(r.Answer, r.Extra...) {
				if rr.Header().Rrtype != dns.TypeOPT && rr.Header().Ttl != tt.want {
					t.Errorf("%s: %s TTL %d, want %d", tt.name, rr, rr.Header().Ttl, tt.want)
				}
			}
		}
	}
}

// TestIPv6Listener: the server answers on an IPv6 address, ns.DOMAIN is it.
func TestIPv6Listener(t *testing.T) {
	l, err := net.ListenPacket("udp", "[::1]:0")
	if err != nil {
		t.Skip("no IPv6 loopback:", err)
	}
	l.Close()
	c := testConfig(testSource())
	c.Addr = "[::1]:0"
	s := startServer(t, c)
	r, _ := exchange(t, s.Addr(), msgFor("ns.grapevine.", dns.TypeAAAA, 0), "udp")
	if len(r.Answer) != 1 || r.Answer[0].(*dns.AAAA).AAAA.String() != "::1" {
		t.Errorf("ns AAAA: %v", r.Answer)
	}
	c.RateLimit.PerSecond = 1
	c.RateLimit.Burst = 1
	frozen := time.Unix(1700000000, 0) // no refill, however slow the queries below
	c.Now = func() time.Time { return frozen }
	c.Addr = "[::1]:0"
	s = startServer(t, c)
	pkt := mustPack(msgFor("web.service.grapevine.", dns.TypeA, 0))
	if rawExchange(t, s.Addr(), pkt, "udp") == nil {
		t.Fatal("first query not answered")
	}
	// The next ones of a burst of 1 are limited: dropped, or slipped (TC).
	for range 3 {
		if raw := rawExchangeWithin(t, s.Addr(), pkt, "udp", 200*time.Millisecond); raw != nil && raw[2]&0x02 == 0 {
			t.Errorf("rate limit over IPv6 not applied: %x", raw)
		}
	}
}

// TestLongNamesKeepTheSOA: with the longest domain and query name, a
// negative answer over UDP without EDNS still carries the SOA.
func TestLongNamesKeepTheSOA(t *testing.T) {
	label := strings.Repeat("d", 49)
	c := testConfig(testSource())
	c.Domains = []string{label + "." + label + "." + label + "." + label + "."}
	s := startServer(t, c)
	name := "x.service." + c.Domains[0]
	for len(name) < 252 {
		name = "y." + name
	}
	r, n := exchange(t, s.Addr(), msgFor(name, dns.TypeA, 0), "udp")
	if r.Rcode != dns.RcodeNameError || len(r.Ns) != 1 || n > 512 {
		t.Errorf("%d bytes: %v", n, r)
	}
	checkWellFormed(t, name, r, n)
}
