package dnsserver

import (
	"fmt"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// dialFrom opens a TCP connection to addr from the loopback source src.
func dialFrom(t *testing.T, src, addr string) net.Conn {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}, Timeout: 2 * time.Second}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Skipf("cannot dial from %s (loopback aliases needed): %v", src, err)
	}
	return c
}

// perAddress counts every address as a client of its own, so tests on
// loopback can stand for several hosts.
func perAddress(a netip.Addr) netip.Prefix { return netip.PrefixFrom(a, a.BitLen()) }

// refusesFrom dials from src until the server refuses a connection (it is
// counted at once; the close may take a moment to show), within 15 s.
func refusesFrom(t *testing.T, s *Server, src string) bool {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for s.tcpRejected.Load() == 0 && time.Now().Before(deadline) {
		c := dialFrom(t, src, s.Addr())
		c.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
		c.Read(make([]byte, 1))
		c.Close()
	}
	return s.tcpRejected.Load() > 0
}

// TestTCPLoopbackIsOneClient: the host's processes are one client whatever
// 127.x source address they use, so one cannot take every slot by spreading
// its connections over addresses.
func TestTCPLoopbackIsOneClient(t *testing.T) {
	s := startServer(t, testConfig(testSource()))
	var conns []net.Conn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for i := range maxTCPPerIP {
		conns = append(conns, dialFrom(t, fmt.Sprintf("127.0.%d.%d", 1+i/100, 1+i%100), s.Addr()))
	}
	if !refusesFrom(t, s, "127.99.0.1") {
		t.Fatalf("loopback kept more than %d connections over several 127.x addresses", maxTCPPerIP)
	}
}

// TestTCPPerClientLimit: one client address holding idle TCP connections
// gets at most maxTCPPerIP of them; another client is still answered over
// TCP (before the limit, 256 idle connections of one host shut TCP DNS for
// everyone for as long as it kept them open).
func TestTCPPerClientLimit(t *testing.T) {
	cfg := testConfig(testSource())
	cfg.clientKey = perAddress // 127.0.0.2 stands for another host
	s := startServer(t, cfg)
	var conns []net.Conn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for range maxTCPPerIP {
		conns = append(conns, dialFrom(t, "127.0.0.1", s.Addr()))
	}
	if !refusesFrom(t, s, "127.0.0.1") {
		t.Fatalf("client 127.0.0.1 kept more than %d connections", maxTCPPerIP)
	}
	c := dialFrom(t, "127.0.0.2", s.Addr())
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	co := &dns.Conn{Conn: c}
	if err := co.WriteMsg(msgFor("web.service.grapevine.", dns.TypeA, 0)); err != nil {
		t.Fatal(err)
	}
	r, err := co.ReadMsg()
	if err != nil {
		t.Fatalf("another client is not answered over TCP: %v", err)
	}
	if len(r.Answer) == 0 {
		t.Fatalf("another client: empty answer %v", r)
	}
}
