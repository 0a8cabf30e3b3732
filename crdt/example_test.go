package crdt_test

import (
	"fmt"

	"github.com/grapevine-sd/grapevine/crdt"
)

// An origin writes; a replica merges what it is sent, out of order, and repairs
// the gap with DeltaSince.
func Example() {
	origin := crdt.New("node-a", 1)
	replica := crdt.New("node-b", 1)

	d1 := origin.Put("web-1", []byte("10.0.0.1:80"))
	d2 := origin.Put("web-2", []byte("10.0.0.2:80"))

	res, _ := replica.Merge(d2) // d1 was lost
	fmt.Println("gap:", res.Gap)
	_ = d1

	for _, d := range origin.DeltaSince(replica.Digest(), 64<<10) {
		replica.Merge(d)
	}
	fmt.Println("converged:", replica.Hash() == origin.Hash(), replica.Position("node-a"))
	// Output:
	// gap: true
	// converged: true {1 3}
}
