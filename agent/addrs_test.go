package agent

import (
	"context"
	"testing"

	"github.com/rs/zerolog"
)

// pruneAddrs drops remembered addresses of names that are neither members nor
// origins of held records, and keeps the others.
func TestPruneAddrs(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Node, cfg.Bind, cfg.HTTP, cfg.DNS.Addr = "self", "127.0.0.1:0", "", ""
	cfg.DataDir, cfg.Logger = t.TempDir(), zerolog.Nop()
	cfg.InsecureGossip = true
	a, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	if err := a.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	a.rememberAddr("self", "127.0.0.1")
	a.rememberAddr("gone", "10.9.9.9")
	a.pruneAddrs()
	if _, ok := (*a.addrs.Load())["gone"]; ok {
		t.Error("address of an unknown name survived pruning")
	}
	if addr, ok := a.memberAddress("self"); !ok || addr != "127.0.0.1" {
		t.Errorf("own address after pruning: %q %v", addr, ok)
	}
}
