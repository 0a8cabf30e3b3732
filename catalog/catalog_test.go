package catalog_test

import (
	"testing"

	"github.com/grapevine-sd/grapevine/catalog"
	"github.com/grapevine-sd/grapevine/catalog/catalogtest"
)

func TestRegisterLookupAcrossReplicas(t *testing.T) {
	clock := catalogtest.NewClock()
	a := catalogtest.New(t, "a", clock)
	b := catalogtest.New(t, "b", clock)
	catalogtest.Pipe(t, a, b)
	for _, in := range catalogtest.Instances("web", 3) {
		if err := a.Register(in); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range []*catalog.Catalog{a, b} {
		r := c.Service("web", catalog.Filter{})
		if got := len(r.Entries); got != 3 {
			t.Fatalf("%s: got %d entries, want 3", c.Node(), got)
		}
		if r.Entries[0].Node != "a" || r.Entries[0].Stale {
			t.Fatalf("%s: got %+v", c.Node(), r.Entries[0])
		}
	}
	if a.Stats().Hash != b.Stats().Hash {
		t.Fatal("hashes differ")
	}
}
