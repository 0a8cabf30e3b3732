package catalog_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/grapevine-sd/grapevine/catalog"
	"github.com/grapevine-sd/grapevine/catalog/catalogtest"
)

// cluster is a set of catalogs on one fake clock with eager push between all.
type cluster struct {
	clock *catalogtest.Clock
	cs    map[string]*catalog.Catalog
}

func newCluster(t *testing.T, names ...string) *cluster {
	cl := &cluster{clock: catalogtest.NewClock(), cs: map[string]*catalog.Catalog{}}
	var all []*catalog.Catalog
	for _, n := range names {
		c := catalogtest.New(t, n, cl.clock)
		cl.cs[n] = c
		all = append(all, c)
	}
	for _, c := range all {
		var others []*catalog.Catalog
		for _, o := range all {
			if o != c {
				others = append(others, o)
				c.MemberAlive(o.Node())
			}
		}
		catalogtest.Pipe(t, c, others...)
	}
	return cl
}

func (cl *cluster) advance(d time.Duration) {
	cl.clock.Advance(d)
	for _, c := range cl.cs {
		c.Tick()
	}
}

func ids(r catalog.Result) []string {
	var out []string
	for _, e := range r.Entries {
		s := e.Node + "/" + e.ID
		if e.Stale {
			s += "(stale)"
		}
		out = append(out, s)
	}
	return out
}

func mustRegister(t *testing.T, c *catalog.Catalog, in catalog.Instance) {
	t.Helper()
	if err := c.Register(in); err != nil {
		t.Fatalf("register %s on %s: %v", in.ID, c.Node(), err)
	}
}

func TestLeaseTransitions(t *testing.T) {
	cl := newCluster(t, "a", "b")
	a, b := cl.cs["a"], cl.cs["b"]
	mustRegister(t, a, catalogtest.Instance("web", "w1", 80))
	mustRegister(t, b, catalogtest.Instance("web", "w2", 80))
	cfg := catalog.DefaultConfig()
	check := func(step string, want ...string) {
		t.Helper()
		got := ids(b.Service("web", catalog.Filter{}))
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("%s: got %v, want %v", step, got, want)
		}
	}
	check("start", "a/w1", "b/w2")

	b.MemberFailed("a")
	check("failed", "a/w1(stale)", "b/w2")
	cl.advance(cfg.LeaseGrace / 2)
	r := b.Service("web", catalog.Filter{})
	if age := r.Entries[0].Age; age != cfg.LeaseGrace/2 {
		t.Fatalf("age %v, want %v", age, cfg.LeaseGrace/2)
	}
	if e, ok := b.Instance("a", "w1"); !ok || !e.Stale || e.Age != cfg.LeaseGrace/2 {
		t.Fatalf("Instance: %+v %v", e, ok)
	}
	cl.advance(cfg.LeaseGrace / 2)
	check("expired", "b/w2")
	if got := b.Stats().Expired; got != 1 {
		t.Fatalf("Stats.Expired = %d, want 1", got)
	}

	// Returning with the same epoch revives the records.
	b.MemberAlive("a")
	check("revived", "a/w1", "b/w2")

	// A graceful leave withdraws at once, with no stale-over-empty either.
	b.MemberLeft("a")
	check("left", "b/w2")
	if err := b.Deregister("w2"); err != nil {
		t.Fatal(err)
	}
	check("left, nothing else")

	// Reap after ReapAfter.
	cl.advance(cfg.ReapAfter)
	if got := b.Stats(); got.Origins != 1 || got.Instances != 0 {
		t.Fatalf("after reap: %+v", got)
	}
	// A peer re-sending the reaped origin's records does not bring them back.
	catalogtest.Sync(t, 4096, a, b)
	check("re-sent after reap")
	cl.advance(time.Second)
	if got := b.Stats(); got.Origins != 1 {
		t.Fatalf("re-sent origin not reaped again: %+v", got)
	}
}

func TestStaleOverEmpty(t *testing.T) {
	cl := newCluster(t, "a", "b", "c", "d", "e", "f", "g", "h", "i", "j")
	a, b := cl.cs["a"], cl.cs["b"]
	mustRegister(t, a, catalogtest.Instance("db", "db1", 5432))
	in := catalogtest.Instance("db", "db2", 5432)
	mustRegister(t, cl.cs["c"], in)
	in.Health = catalog.HealthCritical
	in.ID = "db3"
	mustRegister(t, cl.cs["c"], in)
	cfg := catalog.DefaultConfig()

	b.MemberFailed("a")
	cl.advance(cfg.LeaseGrace)
	if got := ids(b.Service("db", catalog.Filter{})); fmt.Sprint(got) != "[c/db2]" {
		t.Fatalf("with a live instance: got %v", got)
	}
	cl.clock.Advance(time.Minute) // c fails long after a: no mass failure
	b.MemberFailed("c")
	if b.Preservation().Active {
		t.Fatal("self-preservation engaged on two spaced failures")
	}
	cl.advance(cfg.LeaseGrace)
	r := b.Service("db", catalog.Filter{})
	if !r.Fallback || fmt.Sprint(ids(r)) != "[a/db1(stale) c/db2(stale)]" {
		t.Fatalf("stale over empty: got %v fallback=%v", ids(r), r.Fallback)
	}
	if r.Entries[0].Age != time.Minute+2*cfg.LeaseGrace || r.Entries[1].Age != cfg.LeaseGrace {
		t.Fatalf("ages %v %v", r.Entries[0].Age, r.Entries[1].Age)
	}
	// The fallback applies the filter: critical only finds db3.
	r = b.Service("db", catalog.Filter{Health: catalog.HealthOnly(catalog.HealthCritical)})
	if fmt.Sprint(ids(r)) != "[c/db3(stale)]" || !r.Fallback {
		t.Fatalf("critical fallback: %v", ids(r))
	}
	// Past StaleMaxAge the fallback ends.
	cl.advance(cfg.StaleMaxAge)
	if r := b.Service("db", catalog.Filter{}); len(r.Entries) != 0 {
		t.Fatalf("after StaleMaxAge: got %v", ids(r))
	}
	// A live instance takes over from the fallback at once.
	mustRegister(t, b, catalogtest.Instance("db", "db9", 5432))
	if got := ids(b.Service("db", catalog.Filter{})); fmt.Sprint(got) != "[b/db9]" {
		t.Fatalf("got %v", got)
	}
}

func TestSelfPreservation(t *testing.T) {
	names := []string{"a", "b", "c", "d", "e", "f", "g", "h", "i", "j"}
	cl := newCluster(t, names...)
	for _, n := range names {
		mustRegister(t, cl.cs[n], catalogtest.Instance("api", "api-"+n, 80))
	}
	cfg := catalog.DefaultConfig()
	a := cl.cs["a"]
	// A partition: 4 of 10 fail within a few seconds.
	for _, n := range names[6:] {
		a.MemberFailed(n)
		cl.advance(time.Second)
	}
	p := a.Preservation()
	if !p.Active || p.Unreachable != 4 || p.Known != 10 {
		t.Fatalf("preservation %+v, want active, 4 of 10", p)
	}
	cl.advance(5 * cfg.LeaseGrace)
	r := a.Service("api", catalog.Filter{})
	stale := 0
	for _, e := range r.Entries {
		if e.Stale {
			stale++
		}
	}
	if len(r.Entries) != 10 || stale != 4 {
		t.Fatalf("during preservation: %v", ids(r))
	}
	// Heal: 2 come back, 2 stay down → below 30% → released, the rest expire.
	a.MemberAlive("g")
	a.MemberAlive("h")
	cl.advance(time.Second)
	if a.Preservation().Active {
		t.Fatal("preservation still active after recovery")
	}
	if got := len(a.Service("api", catalog.Filter{}).Entries); got != 8 {
		t.Fatalf("after release: %d entries, want 8", got)
	}
}

// Failures of one mass disappearance can be detected further apart than the
// lease grace (SWIM detects each member on its own). Preservation engaging on
// the last of them holds every origin that failed within the window, also
// those whose grace ran out just before. (Found by the multi-host test: with
// a 3 s grace, one of two cut-off agents was detected 4 s before the other
// and its records stayed withdrawn for the whole partition.)
func TestSelfPreservationHoldsTheWholeWindow(t *testing.T) {
	names := []string{"a", "b", "c", "d"}
	cl := newCluster(t, names...)
	for _, n := range names {
		mustRegister(t, cl.cs[n], catalogtest.Instance("api", "api-"+n, 80))
	}
	cfg := catalog.DefaultConfig()
	a := cl.cs["a"]
	a.MemberFailed("c")
	cl.advance(cfg.LeaseGrace + 5*time.Second) // c's grace runs out: withdrawn
	if got := len(a.Service("api", catalog.Filter{}).Entries); got != 3 {
		t.Fatalf("after c's grace: %d entries, want 3", got)
	}
	a.MemberFailed("d") // 2 of 4 within the window: a mass disappearance
	cl.advance(time.Second)
	if !a.Preservation().Active {
		t.Fatal("preservation not engaged")
	}
	cl.advance(5 * cfg.LeaseGrace)
	r := a.Service("api", catalog.Filter{})
	var stale []string
	for _, e := range r.Entries {
		if e.Stale {
			stale = append(stale, e.ID)
		}
	}
	if len(r.Entries) != 4 || len(stale) != 2 {
		t.Fatalf("during preservation: %v, stale %v; want all 4, c's and d's stale", ids(r), stale)
	}
	// A failure outside the window is not part of the event: not held.
	a.MemberAlive("c")
	a.MemberAlive("d")
	cl.advance(time.Second)
	a.MemberFailed("b")
	cl.advance(cfg.MassFailureWindow + time.Second)
	a.MemberFailed("c")
	a.MemberFailed("d")
	cl.advance(time.Second)
	if !a.Preservation().Active {
		t.Fatal("preservation not engaged by c and d")
	}
	for _, id := range ids(a.Service("api", catalog.Filter{})) {
		if strings.HasPrefix(id, "b/") {
			t.Fatalf("b failed before the window, yet held: %s", id)
		}
	}
}

func TestSelfPreservationCap(t *testing.T) {
	names := []string{"a", "b", "c"}
	cl := newCluster(t, names...)
	mustRegister(t, cl.cs["b"], catalogtest.Instance("api", "x", 80))
	a := cl.cs["a"]
	a.MemberFailed("b")
	a.MemberFailed("c")
	if !a.Preservation().Active {
		t.Fatal("not active")
	}
	cfg := catalog.DefaultConfig()
	cl.advance(cfg.PreservationMax - time.Second)
	if r := a.Service("api", catalog.Filter{}); r.Fallback || len(r.Entries) != 1 {
		t.Fatalf("held: %v %v", ids(r), r.Fallback)
	}
	cl.advance(time.Second)
	if a.Preservation().Active {
		t.Fatal("cap ignored")
	}
	if r := a.Service("api", catalog.Filter{}); !r.Fallback {
		t.Fatalf("after cap: want fallback, got %v", ids(r))
	}
}
