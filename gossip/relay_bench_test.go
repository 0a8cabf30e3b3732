package gossip

import (
	"fmt"
	"testing"

	"github.com/grapevine-sd/grapevine/crdt"
	"github.com/grapevine-sd/grapevine/gossip/gossiptest"
	"github.com/hashicorp/memberlist"
)

// BenchmarkRelayLeaf is what passing a tree on costs a member whose part of
// the tree is empty (most members): finding that no live member lies between
// its key and the limit, among 100.
func BenchmarkRelayLeaf(b *testing.B) {
	cfg := DefaultConfig()
	cfg.Name = "self"
	n, _ := newNode(cfg, gossiptest.NewMemStore("self", 1))
	for i := range 100 {
		name := fmt.Sprintf("host-%04d.dc1", i)
		n.setMember(name, &Member{Name: name, target: &memberlist.Node{Name: name}})
	}
	d := crdt.Delta{Origin: "host-0007.dc1", Epoch: 1, From: 2, To: 2, Entries: []crdt.Entry{{Key: "web/web-7", Seq: 2, Value: make([]byte, 160)}}}
	const salt = 42
	limit := relayKey(salt, "self") + 1 // nothing between
	b.ReportAllocs()
	for b.Loop() {
		n.relay(d, salt, "host-0001.dc1", limit)
	}
}
