package dnsserver

import (
	"net"
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

// TestTCPPerClientLimit: one client address holding idle TCP connections
// gets at most maxTCPPerIP of them; another client is still answered over
// TCP (before the limit, 256 idle connections of one host shut TCP DNS for
// everyone for as long as it kept them open).
func TestTCPPerClientLimit(t *testing.T) {
	s := startServer(t, testConfig(testSource()))
	var conns []net.Conn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for range maxTCPPerIP {
		conns = append(conns, dialFrom(t, "127.0.0.1", s.Addr()))
	}
	deadline := time.Now().Add(5 * time.Second)
	for s.tcpRejected.Load() == 0 && time.Now().Before(deadline) {
		c := dialFrom(t, "127.0.0.1", s.Addr())
		c.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
		c.Read(make([]byte, 1))
		c.Close()
	}
	if s.tcpRejected.Load() == 0 {
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
