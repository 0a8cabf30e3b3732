package catalog_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/grapevine-sd/grapevine/catalog"
	"github.com/grapevine-sd/grapevine/catalog/catalogtest"
	"github.com/grapevine-sd/grapevine/crdt"
)

// Random local writes on three catalogs, deltas delivered with loss,
// duplication and reordering, then anti-entropy: all converge to the same
// hash and the same answers, and every catalog's indexes stay consistent.
func TestConvergeRandom(t *testing.T) {
	for seed := range uint64(20) {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, 1))
			clock := catalogtest.NewClock()
			names := []string{"a", "b", "c"}
			cs := map[string]*catalog.Catalog{}
			var all []*catalog.Catalog
			for _, n := range names {
				c := catalogtest.New(t, n, clock)
				cs[n] = c
				all = append(all, c)
			}
			catalogtest.Members(all...)
			var inflight []struct {
				to *catalog.Catalog
				d  crdt.Delta
			}
			for _, c := range all {
				c.SetPublisher(func(d crdt.Delta) {
					for _, o := range all {
						if o == c || rng.IntN(4) == 0 { // 25% loss
							continue
						}
						inflight = append(inflight, struct {
							to *catalog.Catalog
							d  crdt.Delta
						}{o, d})
						if rng.IntN(5) == 0 { // duplicate
							inflight = append(inflight, inflight[len(inflight)-1])
						}
					}
				})
			}
			services := []string{"web", "db", "cache"}
			for range 300 {
				c := all[rng.IntN(len(all))]
				id := fmt.Sprintf("i%d", rng.IntN(8))
				switch rng.IntN(5) {
				case 0, 1:
					in := catalogtest.Instance(services[rng.IntN(3)], id, rng.IntN(100), fmt.Sprint("t", rng.IntN(3)))
					if rng.IntN(2) == 0 {
						in.Meta = map[string]string{"v": fmt.Sprint(rng.IntN(2))}
					}
					_ = c.Register(in)
				case 2:
					_ = c.Deregister(id)
				case 3:
					_ = c.SetHealth(id, catalog.Health(1+rng.IntN(3)), "")
				case 4:
					_ = c.SetMaintenance(id, rng.IntN(2) == 0, "r")
				}
				// Deliver a random in-flight delta (reordering).
				for len(inflight) > 0 && rng.IntN(2) == 0 {
					i := rng.IntN(len(inflight))
					m := inflight[i]
					inflight = append(inflight[:i], inflight[i+1:]...)
					if _, err := m.to.Merge(m.d); err != nil {
						t.Fatal(err)
					}
				}
				if rng.IntN(50) == 0 {
					clock.Advance(10 * time.Minute)
					for _, c := range all {
						c.Tick()
					}
				}
			}
			catalogtest.Sync(t, 256, all...)
			want := all[0].Stats().Hash
			for _, c := range all {
				if err := c.CheckInvariants(); err != nil {
					t.Fatalf("%s: %v", c.Node(), err)
				}
				if got := c.Stats().Hash; got != want {
					t.Fatalf("%s: hash %x, want %x", c.Node(), got, want)
				}
				for _, s := range services {
					got := fmt.Sprint(ids(c.Service(s, catalog.Filter{Health: catalog.HealthAny})))
					if w := fmt.Sprint(ids(all[0].Service(s, catalog.Filter{Health: catalog.HealthAny}))); got != w {
						t.Fatalf("%s %s: %s, want %s", c.Node(), s, got, w)
					}
				}
			}
		})
	}
}

func TestWaitWakesOnlyOnItsService(t *testing.T) {
	c := catalogtest.New(t, "a", catalogtest.NewClock())
	mustRegister(t, c, catalogtest.Instance("web", "w1", 80))
	mustRegister(t, c, catalogtest.Instance("db", "d1", 80))
	idx := c.Index("web")
	woke := make(chan uint64, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	go func() {
		got, err := c.Wait(ctx, "web", idx)
		if err != nil {
			t.Error(err)
		}
		woke <- got
	}()
	// Changes elsewhere do not wake it.
	for i := range 5 {
		mustRegister(t, c, catalogtest.Instance("db", fmt.Sprint("d", i+2), 80))
	}
	if c.Index("web") != idx {
		t.Fatalf("web index moved to %d", c.Index("web"))
	}
	select {
	case got := <-woke:
		t.Fatalf("woke on another service's change: %d", got)
	default:
	}
	mustRegister(t, c, catalogtest.Instance("web", "w2", 80))
	if got := <-woke; got != c.Index("web") || got <= idx {
		t.Fatalf("woke with %d; index %d, was %d", got, c.Index("web"), idx)
	}
	if c.GlobalIndex() != c.Index("web") {
		t.Fatalf("global %d, web %d", c.GlobalIndex(), c.Index("web"))
	}
	// A service that does not exist yet: Wait blocks until it appears.
	go func() {
		got, err := c.Wait(ctx, "new", 0)
		if err != nil {
			t.Error(err)
		}
		woke <- got
	}()
	mustRegister(t, c, catalogtest.Instance("new", "n1", 80))
	if got := <-woke; got != c.Index("new") {
		t.Fatalf("new: woke with %d, index %d", got, c.Index("new"))
	}
	// Context end and Close.
	short, cancel2 := context.WithCancel(context.Background())
	cancel2()
	if _, err := c.Wait(short, "web", c.Index("web")); err != context.Canceled {
		t.Fatalf("cancelled wait: %v", err)
	}
	go func() {
		_, err := c.Wait(context.Background(), "web", c.Index("web"))
		woke <- 0
		if err != catalog.ErrClosed {
			t.Errorf("wait after close: %v", err)
		}
	}()
	c.Close()
	<-woke
}

func TestSubscribe(t *testing.T) {
	c := catalogtest.New(t, "a", catalogtest.NewClock())
	sub := c.Subscribe("web", 16)
	all := c.Subscribe("", 16)
	slow := c.Subscribe("web", 1)
	mustRegister(t, c, catalogtest.Instance("web", "w1", 80))
	mustRegister(t, c, catalogtest.Instance("db", "d1", 80))
	if err := c.SetHealth("w1", catalog.HealthCritical, "x"); err != nil {
		t.Fatal(err)
	}
	if err := c.Deregister("w1"); err != nil {
		t.Fatal(err)
	}
	want := []string{"upsert w1 passing", "upsert w1 critical", "delete w1 critical"}
	for i, w := range want {
		ch := <-sub.C
		if got := fmt.Sprintf("%v %s %v", ch.Type, ch.Entry.ID, ch.Entry.Health); got != w {
			t.Fatalf("change %d: got %q, want %q", i, got, w)
		}
	}
	if n := len(all.C); n != 4 {
		t.Fatalf("all-services feed has %d changes, want 4", n)
	}
	// The slow subscriber was dropped, not waited for.
	for range slow.C {
	}
	if slow.Err() != catalog.ErrSlowSubscriber {
		t.Fatalf("slow: %v", slow.Err())
	}
	sub.Cancel()
	sub.Cancel()
	if _, ok := <-sub.C; ok {
		t.Fatal("cancelled feed open")
	}
	if sub.Err() != nil {
		t.Fatalf("cancelled: %v", sub.Err())
	}
	c.Close()
	for range all.C {
	}
	if all.Err() != catalog.ErrClosed {
		t.Fatalf("closed: %v", all.Err())
	}
}

func TestTombstoneCompaction(t *testing.T) {
	clock := catalogtest.NewClock()
	a := catalogtest.New(t, "a", clock)
	mustRegister(t, a, catalogtest.Instance("web", "w1", 80))
	if err := a.Deregister("w1"); err != nil {
		t.Fatal(err)
	}
	a.Tick()
	if got := a.Stats().Tombstones; got != 1 {
		t.Fatalf("tombstones %d, want 1", got)
	}
	cfg := catalog.DefaultConfig()
	for range 9 {
		clock.Advance(cfg.TombstoneHorizon / 8)
		a.Tick()
	}
	if got := a.Stats().Tombstones; got != 0 {
		t.Fatalf("tombstones after horizon %d, want 0", got)
	}
	// A peer that missed the deletion still converges (snapshot from the floor).
	b := catalogtest.New(t, "b", clock)
	catalogtest.Members(a, b)
	if _, err := b.Merge(crdt.Delta{Origin: "a", Epoch: a.Epoch(), Entries: []crdt.Entry{{Key: "w1", Seq: 2, Value: []byte{0x90}}}}); err != nil {
		t.Fatal(err)
	}
	catalogtest.Sync(t, 4096, a, b)
	if a.Stats().Hash != b.Stats().Hash {
		t.Fatal("no convergence after compaction")
	}
}
