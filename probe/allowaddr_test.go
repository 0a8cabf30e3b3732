package probe

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// rebindingDNS serves A records for every name: the address in *answer at
// the time of the query, TTL 0 (as a rebinding attacker's server does).
func rebindingDNS(t *testing.T, answer *atomic.Value) *net.Resolver {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &dns.Server{PacketConn: pc, Handler: dns.HandlerFunc(func(w dns.ResponseWriter, q *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(q)
		if q.Question[0].Qtype == dns.TypeA {
			rr, _ := dns.NewRR(fmt.Sprintf("%s 0 IN A %s", q.Question[0].Name, answer.Load().(string)))
			m.Answer = append(m.Answer, rr)
		}
		_ = w.WriteMsg(m)
	})}
	go func() { _ = srv.ActivateAndServe() }()
	t.Cleanup(func() { _ = srv.Shutdown() })
	return &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "udp", pc.LocalAddr().String())
	}}
}

var errDenied = errors.New("denied by the test policy")

// denyOnly refuses exactly the addresses given.
func denyOnly(addrs ...string) func(netip.Addr) error {
	return func(a netip.Addr) error {
		for _, s := range addrs {
			if a == netip.MustParseAddr(s) {
				return fmt.Errorf("%w: %s", errDenied, a)
			}
		}
		return nil
	}
}

// A name that resolved to an allowed address and then to a denied one
// (DNS rebinding) is judged by the address each probe dials: HTTP, TCP and
// gRPC probes go critical saying why, although a server answers at the
// denied address too, and pass again once the name points back.
func TestAllowAddrJudgesTheDialedAddress(t *testing.T) {
	ok := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {}))
	defer ok.Close()
	port := ok.Listener.Addr().(*net.TCPAddr).Port
	// The same port on 127.0.0.2: a server the check must not reach.
	l2, err := net.Listen("tcp", fmt.Sprintf("127.0.0.2:%d", port))
	if err != nil {
		t.Skipf("no listener on 127.0.0.2:%d: %v", port, err)
	}
	bad := &httptest.Server{Listener: l2, Config: &http.Server{Handler: ok.Config.Handler}}
	bad.Start()
	defer bad.Close()

	var answer atomic.Value
	answer.Store("127.0.0.1")
	res := rebindingDNS(t, &answer)
	target := fmt.Sprintf("rebind.test:%d", port)
	for _, c := range []Check{
		{ID: "h", Type: HTTP, Target: "http://" + target + "/", Method: "GET", ExpectStatus: &StatusRange{200, 299}, Timeout: 2 * time.Second},
		{ID: "t", Type: TCP, Target: target, Timeout: 2 * time.Second},
	} {
		c.AllowAddr = denyOnly("127.0.0.2")
		c.resolver = res
		probe := newProbe(c)
		answer.Store("127.0.0.1")
		if st, out := probe(t.Context()); st != Passing {
			t.Errorf("%s to 127.0.0.1: %s %q, want passing", c.Type, st, out)
		}
		answer.Store("127.0.0.2")
		if st, out := probe(t.Context()); st != Critical || !strings.Contains(out, errDenied.Error()) || !strings.Contains(out, "127.0.0.2") {
			t.Errorf("%s rebound to 127.0.0.2: %s %q, want critical saying it is denied", c.Type, st, out)
		}
		answer.Store("127.0.0.1")
		if st, out := probe(t.Context()); st != Passing {
			t.Errorf("%s back to 127.0.0.1: %s %q, want passing", c.Type, st, out)
		}
	}
	// gRPC dials through the same dialer: a denied literal address.
	g := newProbe(Check{ID: "g", Type: GRPC, Target: fmt.Sprintf("127.0.0.2:%d", port), Timeout: 2 * time.Second, AllowAddr: denyOnly("127.0.0.2")})
	if st, out := g(t.Context()); st != Critical || !strings.Contains(out, errDenied.Error()) {
		t.Errorf("grpc to a denied address: %s %q, want critical saying it is denied", st, out)
	}
}
