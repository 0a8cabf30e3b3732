package gossip_test

import (
	"context"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/grapevine-sd/grapevine/gossip"
	"github.com/grapevine-sd/grapevine/gossip/gossiptest"
)

// realNode starts a node on loopback's real sockets (the guarded transport).
func realNode(t *testing.T, name string, tweak func(*gossip.Config)) (*gossip.Node, string) {
	t.Helper()
	cfg := gossip.DefaultConfig()
	cfg.Name, cfg.BindAddr, cfg.BindPort = name, "127.0.0.1", 0
	cfg.EnableCompression = false
	if tweak != nil {
		tweak(&cfg)
	}
	n, err := gossip.New(cfg, gossiptest.NewMemStore(name, 1))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	for _, m := range n.Members() {
		if m.Name == name {
			return n, net.JoinHostPort(m.Addr, strconv.Itoa(int(m.Port)))
		}
	}
	t.Fatal("node not among its members")
	return nil, ""
}

func waitRejected(t *testing.T, n *gossip.Node, reason string, atLeast uint64) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for n.Stats().Rejected[reason] < atLeast {
		if time.Now().After(deadline) {
			t.Fatalf("rejected %q = %d, want >= %d (%v)", reason, n.Stats().Rejected[reason], atLeast, n.Stats().Rejected)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Packets and streams from outside AllowedCIDRs never reach memberlist: a
// peer on 127.0.0.1 cannot join a node on 127.0.0.3 that allows only
// 127.0.0.3/32 (itself).
func TestGuardAllowedCIDRs(t *testing.T) {
	_, only, _ := net.ParseCIDR("127.0.0.3/32")
	a, addrA := realNode(t, "a", func(c *gossip.Config) { c.BindAddr, c.AllowedCIDRs = "127.0.0.3", []net.IPNet{*only} })
	b, _ := realNode(t, "b", nil)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	if n, err := b.Join(ctx, []string{addrA}); err == nil || n != 0 {
		t.Errorf("join from outside the allowed CIDRs = %d, %v; want refused", n, err)
	}
	u, err := net.Dial("udp", addrA)
	if err != nil {
		t.Fatal(err)
	}
	defer u.Close()
	u.Write([]byte{8, 1, 2, 3})
	waitRejected(t, a, "cidr", 2) // the join's stream and the packet
	if a.NumMembers() != 1 {
		t.Errorf("a has %d members", a.NumMembers())
	}
}

// Stalled inbound streams from one source are capped; the rest are closed at
// once and counted, and a peer from another address still joins.
func TestGuardStreamCap(t *testing.T) {
	a, addrA := realNode(t, "a", nil)
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.2")}}
	var conns []net.Conn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for range 40 {
		c, err := d.Dial("tcp", addrA)
		if err != nil {
			t.Skipf("cannot dial from 127.0.0.2: %v", err)
		}
		conns = append(conns, c)
	}
	waitRejected(t, a, "stream_limit", 40-32)
	b, _ := realNode(t, "b", nil)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if _, err := b.Join(ctx, []string{addrA}); err != nil {
		t.Errorf("a peer on another address cannot join while one source stalls streams: %v", err)
	}
}
