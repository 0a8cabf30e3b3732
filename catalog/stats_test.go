package catalog_test

import (
	"testing"
	"time"

	"github.com/grapevine-sd/grapevine/catalog"
	"github.com/grapevine-sd/grapevine/catalog/catalogtest"
)

// Fingerprint agrees with Stats through registrations, a failure, expiry,
// self-preservation and reaping.
func TestFingerprintMatchesStats(t *testing.T) {
	names := []string{"a", "b", "c", "d"}
	cl := newCluster(t, names...)
	a := cl.cs["a"]
	cfg := catalog.DefaultConfig()
	check := func(step string, preserving bool) {
		t.Helper()
		st, f := a.Stats(), a.Fingerprint()
		want := catalog.Fingerprint{Hash: st.Hash, Origins: st.Origins, Instances: st.Instances, Preserving: st.Preservation.Active}
		if f != want {
			t.Fatalf("%s: Fingerprint %+v, Stats say %+v", step, f, want)
		}
		if f.Preserving != preserving {
			t.Fatalf("%s: preserving %v, want %v", step, f.Preserving, preserving)
		}
	}
	check("empty", false)
	for i, n := range names {
		for _, in := range catalogtest.Instances("api-"+n, i+1) {
			mustRegister(t, cl.cs[n], in)
		}
	}
	check("registered", false)
	if f := a.Fingerprint(); f.Origins != 4 || f.Instances != 10 {
		t.Fatalf("registered: %+v, want 4 origins, 10 instances", f)
	}
	a.MemberFailed("b")
	cl.advance(cfg.LeaseGrace + time.Second)
	check("b expired", false)
	a.MemberFailed("c")
	a.MemberFailed("d")
	cl.advance(time.Second)
	check("c and d failed at once", true)
	a.MemberLeft("b")
	a.MemberLeft("c")
	a.MemberLeft("d")
	cl.advance(cfg.ReapAfter + time.Second)
	check("reaped", false)
}
