package catalog_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/grapevine-sd/grapevine/catalog/catalogtest"
)

// BenchmarkMembershipEvent is one membership event (a member fails, or comes
// back) in a catalog that knows 20,000 alive origins, each holding one record,
// with a second of lease time passing (Tick) every 100 events. Its cost must not
// grow with the number of members.
func BenchmarkMembershipEvent(b *testing.B) {
	for _, n := range []int{2000, 20000} {
		b.Run(fmt.Sprintf("origins=%d", n), func(b *testing.B) { benchMembershipEvent(b, n) })
	}
}

func benchMembershipEvent(b *testing.B, origins int) {
	clock := catalogtest.NewClock()
	r := catalogtest.New(b, "r", clock)
	names := make([]string, origins)
	for i := range names {
		names[i] = fmt.Sprintf("node-%05d", i)
	}
	r.SyncMembers(names)
	owner := catalogtest.New(b, "owner", clock)
	if err := owner.Register(catalogtest.Instance("web", "w1", 80)); err != nil {
		b.Fatal(err)
	}
	// One record per origin: the owner's delta, relabelled.
	d := owner.DeltaSince(nil, 64<<10)[0]
	for _, n := range names {
		d.Origin = n
		if _, err := r.Merge(d); err != nil {
			b.Fatal(err)
		}
	}
	if got := r.Stats().Instances; got != origins {
		b.Fatalf("%d records, want %d", got, origins)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		n := names[i%origins]
		if i/origins%2 == 0 {
			r.MemberFailed(n)
		} else {
			r.MemberAlive(n)
		}
		if i%100 == 99 {
			clock.Advance(time.Second)
			r.Tick()
		}
	}
	b.StopTimer()
	if got := r.Preservation(); got.Known < 1 {
		b.Fatal(got)
	}
}
