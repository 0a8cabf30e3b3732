package catalog_test

import (
	"bytes"
	"fmt"
	"runtime"
	"strings"
	"testing"

	"github.com/grapevine-sd/grapevine/catalog"
	"github.com/grapevine-sd/grapevine/catalog/catalogtest"
	"github.com/grapevine-sd/grapevine/crdt"
)

// replica returns a catalog holding services×perService instances spread
// over 10 origins, merged from peers.
func replica(b testing.TB, services, perService int) *catalog.Catalog {
	b.Helper()
	r := catalogtest.New(b, "r", nil)
	owners := make([]*catalog.Catalog, 10)
	for i := range owners {
		owners[i] = catalogtest.New(b, fmt.Sprintf("node-%02d", i), nil)
		r.MemberAlive(owners[i].Node())
	}
	for s := range services {
		for i := range perService {
			in := catalogtest.Instance(fmt.Sprintf("svc-%d", s), fmt.Sprintf("svc-%d-%d", s, i), 8000+i, "prod", "v2")
			in.Meta = map[string]string{"version": "1.4.2", "team": "payments"}
			in.Address = fmt.Sprintf("10.1.%d.%d", i/250, i%250)
			if err := owners[i%10].Register(in); err != nil {
				b.Fatal(err)
			}
		}
	}
	for _, o := range owners {
		mustMergeAll(b, r, o.DeltaSince(nil, 64<<10))
	}
	return r
}

// BenchmarkServiceLookup is the default lookup of a service with 100
// instances: target < 1 µs and 0 allocs.
func BenchmarkServiceLookup(b *testing.B) {
	r := replica(b, 10, 100)
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if res := r.Service("svc-3", catalog.Filter{}); len(res.Entries) != 100 {
			b.Fatal(len(res.Entries))
		}
	}
}

// BenchmarkServiceLookupParallel is the same lookup from all cores.
func BenchmarkServiceLookupParallel(b *testing.B) {
	r := replica(b, 10, 100)
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if res := r.Service("svc-3", catalog.Filter{}); len(res.Entries) != 100 {
				b.Fail()
			}
		}
	})
}

// BenchmarkServiceLookupFiltered filters 100 instances by tag and zone.
func BenchmarkServiceLookupFiltered(b *testing.B) {
	r := replica(b, 10, 100)
	f := catalog.Filter{Tags: []string{"v2"}, Meta: map[string]string{"team": "payments"}}
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if res := r.Service("svc-3", f); len(res.Entries) != 100 {
			b.Fatal(len(res.Entries))
		}
	}
}

// BenchmarkMerge merges one-instance deltas (the eager-push case) into a
// replica holding 10,000 instances (100 services of 100).
func BenchmarkMerge(b *testing.B) {
	r := replica(b, 100, 100)
	hot := catalogtest.New(b, "hot", nil)
	r.MemberAlive("hot")
	var ds []crdt.Delta
	hot.SetPublisher(func(d crdt.Delta) { ds = append(ds, d) })
	for i := range b.N {
		in := catalogtest.Instance("svc-7", fmt.Sprintf("hot-%d", i%100), 9000+i%1000)
		if err := hot.Register(in); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	mustMergeAll(b, r, ds)
}

// BenchmarkMemoryPerInstance reports the heap one replica holds per
// replicated instance (crdt record, key and value bytes, the catalog's
// record, indexes, views), with tags and meta shared across a service's
// instances as fleets usually have. The deltas' keys and values are copied
// first, as the network decoder would allocate them; the replica keeps them,
// so their lengths are added to the heap it grew by. The deltas stay alive
// until both heap readings: their entry slices, freed after a real merge, are
// not the replica's and must not be subtracted from its growth.
func BenchmarkMemoryPerInstance(b *testing.B) {
	const n = 20000
	for range b.N {
		b.StopTimer()
		var ds []crdt.Delta
		held := 0 // key and value bytes: allocated before the measurement starts
		for _, d := range replica(b, n/100, 100).DeltaSince(nil, 64<<10) {
			if d.Origin == "r" {
				continue
			}
			es := make([]crdt.Entry, len(d.Entries))
			for i, e := range d.Entries {
				e.Key = strings.Clone(e.Key)
				e.Value = bytes.Clone(e.Value)
				held += len(e.Key) + len(e.Value)
				es[i] = e
			}
			d.Entries = es
			ds = append(ds, d)
		}
		runtime.GC()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		b.StartTimer()
		r := catalogtest.New(b, "m", nil)
		for i := range 10 {
			r.MemberAlive(fmt.Sprintf("node-%02d", i))
		}
		mustMergeAll(b, r, ds)
		b.StopTimer()
		runtime.GC()
		runtime.ReadMemStats(&after)
		runtime.KeepAlive(ds)
		b.ReportMetric(float64(int(after.HeapAlloc-before.HeapAlloc)+held)/n, "B/instance")
		b.ReportMetric(float64(held)/n, "value-B/instance")
		// Looked-up services keep decoded entries and answer sets: what a
		// lookup of every service adds.
		for s := range n / 100 {
			if res := r.Service(fmt.Sprint("svc-", s), catalog.Filter{Tags: []string{"v2"}}); len(res.Entries) != 100 {
				b.Fatal(len(res.Entries))
			}
		}
		runtime.GC()
		var hot runtime.MemStats
		runtime.ReadMemStats(&hot)
		b.ReportMetric(float64(int(hot.HeapAlloc-after.HeapAlloc))/n, "looked-up-extra-B/instance")
		runtime.KeepAlive(r)
	}
}

// mustMergeAll merges every delta of ds into c (mergeAll) and fails on error.
func mustMergeAll(tb testing.TB, c *catalog.Catalog, ds []crdt.Delta) {
	tb.Helper()
	if err := mergeAll(c, ds); err != nil {
		tb.Fatal(err)
	}
}

// bigService returns a replica holding one service of size instances (over 10
// origins), with its answer set built, and a hot owner's deltas that each
// change one instance of that service.
func bigService(b *testing.B, size, changes int) (*catalog.Catalog, []crdt.Delta) {
	b.Helper()
	r := replica(b, 0, 0)
	owners := make([]*catalog.Catalog, 10)
	for i := range owners {
		owners[i] = catalogtest.New(b, fmt.Sprintf("big-%02d", i), nil)
	}
	hot := catalogtest.New(b, "hot", nil)
	catalogtest.Members(append([]*catalog.Catalog{r, hot}, owners...)...)
	for i := range size {
		in := catalogtest.Instance("big", fmt.Sprintf("big-%d", i), 8000+i%1000, "prod", fmt.Sprint("shard-", i%10))
		in.Meta = map[string]string{"version": "1.4.2"}
		if err := owners[i%10].Register(in); err != nil {
			b.Fatal(err)
		}
	}
	for _, o := range owners {
		mustMergeAll(b, r, o.DeltaSince(nil, 64<<10))
	}
	var ds []crdt.Delta
	hot.SetPublisher(func(d crdt.Delta) { ds = append(ds, d) })
	for i := range changes {
		in := catalogtest.Instance("big", fmt.Sprintf("hot-%d", i%100), 9000+i%1000, "prod")
		if err := hot.Register(in); err != nil {
			b.Fatal(err)
		}
	}
	if res := r.Service("big", catalog.Filter{}); len(res.Entries) != size {
		b.Fatalf("%d instances, want %d", len(res.Entries), size)
	}
	return r, ds
}

// BenchmarkMergeServiceSize merges one-instance deltas into a service of 10
// and of 10,000 instances: the cost of a change must not grow with the size
// of its service (views are updated per record; answer sets are built by the
// first lookup after a change).
func BenchmarkMergeServiceSize(b *testing.B) {
	for _, size := range []int{10, 10000} {
		b.Run(fmt.Sprint("instances=", size), func(b *testing.B) {
			r, ds := bigService(b, size, b.N)
			b.ReportAllocs()
			b.ResetTimer()
			mustMergeAll(b, r, ds)
		})
	}
}

// BenchmarkLookupServiceSize is the default lookup and an indexed tag lookup
// of a service of 10 and of 10,000 instances (answer sets built).
func BenchmarkLookupServiceSize(b *testing.B) {
	for _, size := range []int{10, 10000} {
		r, _ := bigService(b, size, 0)
		b.Run(fmt.Sprint("default/instances=", size), func(b *testing.B) {
			b.ReportAllocs()
			for range b.N {
				if res := r.Service("big", catalog.Filter{}); len(res.Entries) != size {
					b.Fatal(len(res.Entries))
				}
			}
		})
		f := catalog.Filter{Tags: []string{"shard-3"}}
		b.Run(fmt.Sprint("tag/instances=", size), func(b *testing.B) {
			b.ReportAllocs()
			for range b.N {
				if res := r.Service("big", f); len(res.Entries) != size/10 {
					b.Fatal(len(res.Entries))
				}
			}
		})
	}
}

// BenchmarkColdLookup is the first lookup of a service of 10,000 instances
// that nobody read before: its entries are decoded then, once (later
// lookups read the built answer set; changes decode only what they touch).
func BenchmarkColdLookup(b *testing.B) {
	for range b.N {
		b.StopTimer()
		r := replica(b, 1, 10000)
		b.StartTimer()
		if res := r.Service("svc-0", catalog.Filter{}); len(res.Entries) != 10000 {
			b.Fatal(len(res.Entries))
		}
	}
}
