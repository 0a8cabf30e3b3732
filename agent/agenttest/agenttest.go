// Package agenttest starts real agents on loopback for tests: ephemeral ports,
// a temporary data directory, fast memberlist timers, an API client of their
// own, and a condition poller. Every agent started here is closed by
// t.Cleanup; every client's idle connections are closed too, so goroutine-leak
// checks at the end of a test binary see nothing of them.
package agenttest

import (
	"net"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/grapevine-sd/grapevine/agent"
	"github.com/grapevine-sd/grapevine/api"
	"github.com/hashicorp/memberlist"
	"github.com/rs/zerolog"
)

// Config is an agent config for node name on loopback: gossip, HTTP on
// ephemeral ports, DNS off, a temporary data directory, no logs, insecure
// gossip (no key; set Encrypt or EncryptFile to test with one), memberlist
// timers of a local network so failures and leaves are seen within a second
// or two.
func Config(t testing.TB, name string) agent.Config {
	t.Helper()
	cfg := agent.DefaultConfig()
	cfg.Node = name
	cfg.Bind = "127.0.0.1:0"
	cfg.HTTP = "127.0.0.1:0"
	cfg.DNS.Addr = ""
	cfg.DataDir = t.TempDir()
	cfg.Logger = zerolog.Nop()
	cfg.InsecureGossip = true // loopback only; tests of the key set Encrypt or EncryptFile
	cfg.Gossip.SyncInterval = 500 * time.Millisecond
	cfg.Gossip.PushPullInterval = 2 * time.Second
	cfg.Gossip.RejoinInterval = time.Second
	cfg.Gossip.Tune = FastTimers
	return cfg
}

// FastTimers sets memberlist's timers to its local-network profile, a bit
// faster still: probe every 200 ms, gossip every 50 ms.
func FastTimers(c *memberlist.Config) {
	l := memberlist.DefaultLocalConfig()
	c.ProbeInterval = 200 * time.Millisecond
	c.ProbeTimeout = 100 * time.Millisecond
	c.GossipInterval = 50 * time.Millisecond
	c.SuspicionMult = 2
	c.TCPTimeout = l.TCPTimeout
	c.IndirectChecks = l.IndirectChecks
}

// Start builds and starts an agent from cfg; t.Cleanup closes it.
func Start(t testing.TB, cfg agent.Config) *agent.Agent {
	t.Helper()
	a, err := agent.New(cfg)
	if err != nil {
		t.Fatalf("agent.New(%s): %v", cfg.Node, err)
	}
	t.Cleanup(func() { a.Close() })
	if err := a.Start(t.Context()); err != nil {
		t.Fatalf("agent %s: Start: %v", cfg.Node, err)
	}
	return a
}

// GossipAddr is the host:port a started agent gossips on (the port memberlist
// picked when Bind asked for port 0).
func GossipAddr(t testing.TB, a *agent.Agent) string {
	t.Helper()
	n := a.Node()
	if n == nil {
		t.Fatalf("agent not started")
	}
	for _, m := range n.Members() {
		if m.Name == a.Config().Node {
			return net.JoinHostPort(m.Addr, strconv.Itoa(int(m.Port)))
		}
	}
	t.Fatalf("agent %s is not among its own members", a.Config().Node)
	return ""
}

// Client is an API client for a started agent with a transport of its own,
// whose idle connections t.Cleanup closes.
func Client(t testing.TB, a *agent.Agent) *api.Client {
	t.Helper()
	return ClientAt(t, a.HTTPAddr())
}

// ClientAt is Client for an address.
func ClientAt(t testing.TB, addr string) *api.Client {
	t.Helper()
	tr := http.DefaultTransport.(*http.Transport).Clone()
	t.Cleanup(tr.CloseIdleConnections)
	c, err := api.NewClient(api.ClientConfig{Address: addr, HTTPClient: &http.Client{Transport: tr}, Timeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// Eventually polls cond every 20 ms until it reports true or timeout passes,
// then fails the test with what cond last said.
func Eventually(t testing.TB, timeout time.Duration, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ok, why := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("not within %v: %s", timeout, why)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
