package dnsserver

import (
	"context"
	"net"
	"strings"
	"syscall"
	"testing"
)

// TestListenNeverSharesAForeignPort: a UDP socket of another program of the
// same user holding a port with SO_REUSEPORT (another agent, a test) does not
// get part of this server's queries. On its port the server refuses to start,
// and a kernel-chosen port (which the kernel may pick from such a group when
// the binding socket has SO_REUSEPORT) is never one of theirs.
func TestListenNeverSharesAForeignPort(t *testing.T) {
	lc := net.ListenConfig{Control: func(_, _ string, c syscall.RawConn) error { return reusePort("", "", c) }}
	var foreign []net.PacketConn
	taken := map[string]bool{}
	for range 300 {
		c, err := lc.ListenPacket(context.Background(), "udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		foreign = append(foreign, c)
		taken[c.LocalAddr().String()] = true
	}
	cfg := testConfig(testSource())
	cfg.Addr = foreign[0].LocalAddr().String()
	if s, err := New(cfg); err == nil {
		s.Close(t.Context())
		t.Fatalf("server started on %s, a port another socket holds", cfg.Addr)
	} else if !strings.Contains(err.Error(), "address already in use") {
		t.Errorf("error %v, want address already in use", err)
	}
	for range 30 {
		cfg.Addr = "127.0.0.1:0"
		s := startServer(t, cfg)
		if taken[s.Addr()] {
			t.Fatalf("server on %s shares a foreign socket's port", s.Addr())
		}
	}
}
