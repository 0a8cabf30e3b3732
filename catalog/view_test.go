package catalog_test

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/grapevine-sd/grapevine/catalog"
	"github.com/grapevine-sd/grapevine/catalog/catalogtest"
	"github.com/grapevine-sd/grapevine/crdt"
)

// Views are maintained per touched record, not rebuilt per change. A replica
// takes random owner writes, membership news (fail, back, leave), clock steps
// and ticks; after every step its published state must equal a full rebuild
// (CheckInvariants), the index-served filtered lookups must equal the same
// filters matched by scanning, and its change feed, replayed, must equal its
// served set. Odd seeds look services up only every 25 steps, so records
// change while their service is cold (no entries kept) as well as hot.
func TestViewsFollowRecordsAndLeases(t *testing.T) {
	for seed := range uint64(30) {
		lookEvery := 1
		if seed%2 == 1 {
			lookEvery = 25
		}
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, 7))
			clock := catalogtest.NewClock()
			r := catalogtest.New(t, "r", clock)
			owners := []*catalog.Catalog{
				catalogtest.New(t, "o1", clock), catalogtest.New(t, "o2", clock), catalogtest.New(t, "o3", clock),
			}
			catalogtest.Members(append([]*catalog.Catalog{r}, owners...)...)
			for _, o := range owners {
				o.SetPublisher(func(d crdt.Delta) {
					if _, err := r.Merge(d); err != nil {
						t.Fatal(err)
					}
				})
			}
			services := []string{"web", "db"}
			subs := map[string]*catalog.Subscription{}
			feed := map[string]map[string]uint64{} // service → node/id → version seq seen
			for _, s := range services {
				subs[s] = r.Subscribe(s, 1<<16)
				feed[s] = map[string]uint64{}
			}
			for step := range 400 {
				o := owners[rng.IntN(len(owners))]
				id := fmt.Sprintf("i%d", rng.IntN(6))
				switch rng.IntN(10) {
				case 0, 1, 2:
					in := catalogtest.Instance(services[rng.IntN(2)], id, rng.IntN(100), fmt.Sprint("t", rng.IntN(3)), "all")
					in.Zone = fmt.Sprint("z", rng.IntN(2))
					if rng.IntN(2) == 0 {
						in.Meta = map[string]string{"v": fmt.Sprint(rng.IntN(2))}
					}
					_ = o.Register(in)
				case 3:
					_ = o.Deregister(id)
				case 4:
					_ = o.SetHealth(id, catalog.Health(1+rng.IntN(3)), "")
				case 5:
					r.MemberFailed(o.Node())
				case 6:
					r.MemberAlive(o.Node())
				case 7:
					if rng.IntN(4) == 0 {
						r.MemberLeft(o.Node())
					}
				case 8, 9:
					clock.Advance(time.Duration(rng.IntN(90)) * time.Second)
					r.Tick()
				}
				if err := r.CheckInvariants(); err != nil {
					t.Fatalf("step %d: %v", step, err)
				}
				for _, s := range services {
					drain(t, subs[s], feed[s])
					if step%lookEvery != 0 {
						continue
					}
					checkFilters(t, r, s, step)
					served := map[string]uint64{}
					res := r.Service(s, catalog.Filter{Health: catalog.HealthAny})
					if !res.Fallback {
						for _, e := range res.Entries {
							served[e.Node+"/"+e.ID] = e.Version.Seq
						}
					}
					if !maps.Equal(served, feed[s]) {
						t.Fatalf("step %d %s: feed replays to %v, served %v", step, s, feed[s], served)
					}
				}
			}
		})
	}
}

func drain(t *testing.T, s *catalog.Subscription, into map[string]uint64) {
	t.Helper()
	for {
		select {
		case ch, ok := <-s.C:
			if !ok {
				t.Fatalf("subscription ended: %v", s.Err())
			}
			k := ch.Entry.Node + "/" + ch.Entry.ID
			if ch.Type == catalog.ChangeDelete {
				if seq, ok := into[k]; !ok || seq != ch.Entry.Version.Seq {
					t.Fatalf("delete of %s shows seq %d, last served %d (held %v)", k, ch.Entry.Version.Seq, seq, ok)
				}
				delete(into, k)
			} else {
				into[k] = ch.Entry.Version.Seq
			}
		default:
			return
		}
	}
}

// checkFilters compares the indexed answers of single and combined filters
// with the same filters answered by scanning (an explicit passing+warning
// health set takes the scanning path).
func checkFilters(t *testing.T, c *catalog.Catalog, service string, step int) {
	t.Helper()
	scan := catalog.HealthOnly(catalog.HealthPassing, catalog.HealthWarning)
	for _, f := range []catalog.Filter{
		{Tags: []string{"t1"}},
		{Tags: []string{"all"}},
		{Tags: []string{"t0", "all"}},
		{Zone: "z1"},
		{Node: "o2"},
		{Meta: map[string]string{"v": "1"}},
		{Tags: []string{"t2"}, Zone: "z0", Meta: map[string]string{"v": "0"}},
		{Tags: []string{"nope"}},
	} {
		got := c.Service(service, f)
		g := f
		g.Health = scan
		want := c.Service(service, g)
		if got.Index != want.Index || got.Fallback != want.Fallback || !slices.Equal(ids(got), ids(want)) {
			t.Fatalf("step %d %s %+v: indexed %v (fallback %v), scanned %v (fallback %v)", step, service, f, ids(got), got.Fallback, ids(want), want.Fallback)
		}
		// Asked again, tags reversed: the remembered answer, the same.
		h := f
		h.Tags = slices.Clone(f.Tags)
		slices.Reverse(h.Tags)
		again := c.Service(service, h)
		if again.Index == got.Index && (again.Fallback != got.Fallback || !slices.Equal(ids(again), ids(got))) {
			t.Fatalf("step %d %s %+v asked again: %v (fallback %v), first %v", step, service, h, ids(again), again.Fallback, ids(got))
		}
		// And as the test matches it itself over every served instance.
		all := c.Service(service, catalog.Filter{Health: catalog.HealthAny})
		if all.Index == got.Index && !all.Fallback && !got.Fallback {
			var mine catalog.Result
			for _, e := range all.Entries {
				if matches(f, e) {
					mine.Entries = append(mine.Entries, e)
				}
			}
			if !slices.Equal(ids(mine), ids(got)) {
				t.Fatalf("step %d %s %+v: catalog %v, matched here %v", step, service, f, ids(got), ids(mine))
			}
		}
	}
}

// matches is Filter's contract (default health), written out.
func matches(f catalog.Filter, e *catalog.Entry) bool {
	if e.Health != catalog.HealthPassing && e.Health != catalog.HealthWarning {
		return false
	}
	if (f.Zone != "" && e.Zone != f.Zone) || (f.Node != "" && e.Node != f.Node) {
		return false
	}
	for _, t := range f.Tags {
		if !slices.Contains(e.Tags, t) {
			return false
		}
	}
	for k, v := range f.Meta {
		if got, ok := e.Meta[k]; !ok || got != v {
			return false
		}
	}
	return true
}

// A filter one index read does not answer is matched once per view: asked
// again, in any tag order, it is answered without allocating.
func TestCombinedFilterRemembered(t *testing.T) {
	r := catalogtest.New(t, "r", nil)
	for i, in := range catalogtest.Instances("web", 20) {
		in.Tags = []string{"prod", fmt.Sprint("shard-", i%2)}
		in.Meta = map[string]string{"team": fmt.Sprint("t", i%4)}
		mustRegister(t, r, in)
	}
	f := catalog.Filter{Tags: []string{"prod", "shard-1"}, Meta: map[string]string{"team": "t1"}}
	first := r.Service("web", f)
	if len(first.Entries) != 5 {
		t.Fatalf("%d entries, want 5", len(first.Entries))
	}
	g := catalog.Filter{Tags: []string{"shard-1", "prod"}, Meta: map[string]string{"team": "t1"}}
	if allocs := testing.AllocsPerRun(100, func() {
		if res := r.Service("web", g); len(res.Entries) != 5 {
			t.Fatalf("%d entries", len(res.Entries))
		}
	}); allocs != 0 {
		t.Errorf("remembered filter: %v allocs per lookup, want 0", allocs)
	}
	other := catalog.Filter{Tags: []string{"prod", "shard-1"}, Meta: map[string]string{"team": "t3"}}
	if res := r.Service("web", other); len(res.Entries) != 5 || slices.Equal(ids(res), ids(first)) {
		t.Fatalf("another meta value answered %v, first %v", ids(res), ids(first))
	}
	mustRegister(t, r, catalog.Instance{ID: "web-new", Service: "web", Port: 1, Tags: []string{"prod", "shard-1"}, Meta: map[string]string{"team": "t1"}, Health: catalog.HealthPassing})
	if res := r.Service("web", g); len(res.Entries) != 6 {
		t.Fatalf("after a change: %d entries, want 6 (a new view forgets the old answers)", len(res.Entries))
	}
}

// A service is decoded when a lookup first reads it (hot), and dropped back
// to its compact records once no lookup read it for ten minutes (cold); its
// answers are the same either way, and the next lookup decodes it again.
func TestHotServicesCool(t *testing.T) {
	clock := catalogtest.NewClock()
	r := catalogtest.New(t, "r", clock)
	o := catalogtest.New(t, "o", clock)
	catalogtest.Members(r, o)
	catalogtest.Pipe(t, o, r)
	for _, in := range append(catalogtest.Instances("web", 5), catalogtest.Instances("db", 3)...) {
		mustRegister(t, o, in)
	}
	if n := r.HotServices(); n != 0 {
		t.Fatalf("%d hot services before any lookup", n)
	}
	want := r.Service("web", catalog.Filter{})
	if len(want.Entries) != 5 || r.HotServices() != 1 {
		t.Fatalf("%d entries, %d hot services after one lookup", len(want.Entries), r.HotServices())
	}
	for i := range 30 { // 30 minutes: web is read every minute, db never
		clock.Advance(time.Minute)
		r.Tick()
		if got := r.Service("web", catalog.Filter{}); len(got.Entries) != 5 {
			t.Fatalf("minute %d: %d entries", i, len(got.Entries))
		}
		if err := r.CheckInvariants(); err != nil {
			t.Fatal(err)
		}
	}
	if n := r.HotServices(); n != 1 {
		t.Fatalf("%d hot services, want web still hot", n)
	}
	for range 15 { // nobody reads web for 15 minutes
		clock.Advance(time.Minute)
		r.Tick()
	}
	if n := r.HotServices(); n != 0 {
		t.Fatalf("%d hot services after 15 unread minutes", n)
	}
	if err := r.CheckInvariants(); err != nil {
		t.Fatal(err)
	}
	mustRegister(t, o, catalogtest.Instance("web", "web-new", 9000))
	got := r.Service("web", catalog.Filter{})
	if len(got.Entries) != 6 || got.Index <= want.Index || r.HotServices() != 1 {
		t.Fatalf("after cooling and a change: %d entries at index %d (was %d), %d hot", len(got.Entries), got.Index, want.Index, r.HotServices())
	}
	if err := r.CheckInvariants(); err != nil {
		t.Fatal(err)
	}
}
