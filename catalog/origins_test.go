package catalog_test

import (
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/grapevine-sd/grapevine/catalog"
	"github.com/grapevine-sd/grapevine/catalog/catalogtest"
	"github.com/grapevine-sd/grapevine/crdt"
)

// owned returns the deltas of a catalog named node that registered insts: what
// a peer (or a forger) would send of that origin.
func owned(t *testing.T, node string, clock *catalogtest.Clock, insts ...catalog.Instance) (*catalog.Catalog, []crdt.Delta) {
	t.Helper()
	c := catalogtest.New(t, node, clock)
	for _, in := range insts {
		mustRegister(t, c, in)
	}
	return c, c.Announce()
}

func mergeAll(c *catalog.Catalog, ds []crdt.Delta) error {
	var errs []error
	for _, d := range ds {
		if _, err := c.Merge(d); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// A delta of an origin that was never a member is not served, not held in the
// replica (digest, anti-entropy, hash), and dropped after UnknownGrace; one of
// a member whose news is late is merged when the news comes.
func TestUnknownOriginQuarantined(t *testing.T) {
	cl := newCluster(t, "a", "b")
	b := cl.cs["b"]
	cfg := catalog.DefaultConfig()
	before := b.Stats()
	_, forged := owned(t, "ghost", cl.clock, catalogtest.Instance("evil", "e1", 80))
	if err := mergeAll(b, forged); !errors.Is(err, catalog.ErrUnknownOrigin) {
		t.Fatalf("forged delta: %v, want ErrUnknownOrigin", err)
	}
	served := func(svc string) []string {
		return ids(b.Service(svc, catalog.Filter{Health: catalog.HealthAny}))
	}
	check := func(step string) {
		t.Helper()
		st := b.Stats()
		if got := served("evil"); len(got) != 0 || st.Origins != before.Origins || st.Hash != before.Hash {
			t.Fatalf("%s: served %v, %d origins, hash %x (before %d, %x)", step, got, st.Origins, st.Hash, before.Origins, before.Hash)
		}
		if _, ok := b.Digest()["ghost"]; ok {
			t.Fatalf("%s: ghost in the digest", step)
		}
		for _, d := range b.DeltaSince(nil, 1<<20) {
			if d.Origin == "ghost" {
				t.Fatalf("%s: ghost sent to peers", step)
			}
		}
	}
	check("quarantined")
	if n, _ := b.Quarantined(); n != 1 {
		t.Fatalf("quarantined origins %d, want 1", n)
	}
	cl.advance(cfg.UnknownGrace)
	if n, bytes := b.Quarantined(); n != 0 || bytes != 0 {
		t.Fatalf("after UnknownGrace: %d origins, %d bytes held", n, bytes)
	}
	b.MemberAlive("ghost") // news after the bound brings nothing back
	check("dropped")

	// A member whose deltas outrun its join news.
	_, early := owned(t, "n", cl.clock, catalogtest.Instance("web", "n1", 80))
	if err := mergeAll(b, early); !errors.Is(err, catalog.ErrUnknownOrigin) {
		t.Fatalf("early delta: %v", err)
	}
	b.SyncMembers([]string{"a", "b", "n"}) // n is live in the member list: that is news
	if got := served("web"); strings.Join(got, " ") != "n/n1" {
		t.Fatalf("after the news: %v", got)
	}
	if n, _ := b.Quarantined(); n != 0 {
		t.Fatal("quarantine kept after release")
	}
}

// Quarantine is bounded whatever a peer sends.
func TestQuarantineBounded(t *testing.T) {
	clock := catalogtest.NewClock()
	b := catalogtest.New(t, "b", clock)
	value := make([]byte, 8<<10)
	for i := range 3000 {
		d := crdt.Delta{Origin: fmt.Sprintf("ghost-%d", i%1500), Epoch: 1, From: uint64(i + 1), To: uint64(i + 1),
			Entries: []crdt.Entry{{Key: "k", Seq: uint64(i + 1), Value: value}}}
		if _, err := b.Merge(d); !errors.Is(err, catalog.ErrUnknownOrigin) {
			t.Fatalf("delta %d: %v", i, err)
		}
	}
	if n, bytes := b.Quarantined(); n > 1024 || bytes > 4<<20 {
		t.Fatalf("quarantine holds %d origins, %d bytes", n, bytes)
	}
}

// No epoch a peer claims can take an origin's records for good: an
// implausible one (2^64-1) is rejected everywhere, the own origin included; a
// plausible one is exceeded by the owner at its next digest exchange.
func TestBadEpochAndReestablish(t *testing.T) {
	cl := newCluster(t, "a", "b")
	a, b := cl.cs["a"], cl.cs["b"]
	mustRegister(t, a, catalogtest.Instance("web", "w1", 80))
	own := a.Epoch()
	forge := func(epoch uint64) crdt.Delta {
		f := crdt.New("a", epoch)
		return f.Put("w1", []byte{0x90}) // an undecodable record: a takeover that serves nothing
	}
	for _, c := range []*catalog.Catalog{a, b} {
		if _, err := c.Merge(forge(math.MaxUint64)); !errors.Is(err, catalog.ErrBadEpoch) {
			t.Fatalf("%s: epoch 2^64-1: %v, want ErrBadEpoch", c.Node(), err)
		}
	}
	a.DeltaSince(crdt.Digest{"a": {Epoch: math.MaxUint64, Applied: 1}}, 1<<20)
	if a.Epoch() != own {
		t.Fatalf("rebased to an implausible epoch: %d", a.Epoch())
	}
	if got := ids(b.Service("web", catalog.Filter{})); strings.Join(got, " ") != "a/w1" {
		t.Fatalf("b after the implausible claim: %v", got)
	}

	// A claim one hour ahead (plausible) replaces a's records at b...
	claim := own + 3600*1000<<22
	b.SetPublisher(nil)
	a.SetPublisher(nil)
	if _, err := b.Merge(forge(claim)); err != nil {
		t.Fatalf("plausible claim: %v", err)
	}
	if got := ids(b.Service("web", catalog.Filter{})); len(got) != 0 {
		t.Fatalf("claim not applied at b: %v", got)
	}
	// ...until a sees b's digest (one anti-entropy exchange) and rebases.
	catalogtest.Sync(t, 1<<20, a, b)
	if a.Epoch() <= claim {
		t.Fatalf("a at %d, not above the claim %d", a.Epoch(), claim)
	}
	if got := ids(b.Service("web", catalog.Filter{})); strings.Join(got, " ") != "a/w1" {
		t.Fatalf("b after a rebased: %v", got)
	}
}

// Two incarnations never share an epoch, whatever the clock and the data
// directory do: not with a wiped directory and starts in one millisecond, not
// from a backup restored twice on a host whose clock is behind it.
func TestEpochsUniquePerIncarnation(t *testing.T) {
	clock := catalogtest.NewClock() // never advances: every start in one millisecond
	seen := map[uint64]bool{}
	for range 200 {
		e := catalogtest.New(t, "a", clock).Epoch()
		if seen[e] {
			t.Fatalf("epoch %d drawn twice in one millisecond", e)
		}
		seen[e] = true
	}
	// A backup of the data directory, restored twice with the clock behind.
	dir := t.TempDir()
	cfg := catalogtest.Config("a", clock)
	cfg.DataDir = dir
	c, err := catalog.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	backed := c.Epoch()
	c.Close()
	backup, err := os.ReadFile(filepath.Join(dir, "epoch.json"))
	if err != nil {
		t.Fatal(err)
	}
	behind := catalogtest.NewClock()
	behind.Advance(-48 * time.Hour)
	cfg.Now = behind.Now
	var epochs []uint64
	for range 2 {
		if err := os.WriteFile(filepath.Join(dir, "epoch.json"), backup, 0o600); err != nil {
			t.Fatal(err)
		}
		c, err := catalog.New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		epochs = append(epochs, c.Epoch())
		c.Close()
	}
	if epochs[0] <= backed || epochs[1] <= backed || epochs[0] == epochs[1] {
		t.Fatalf("restored twice from epoch %d: %v", backed, epochs)
	}
}

// An origin that sees a history under its own epoch that it did not write (a
// twin that drew the same epoch) rebases at once, from a delta or a digest.
func TestDivergentHistoryRebases(t *testing.T) {
	for _, via := range []string{"delta", "digest"} {
		t.Run(via, func(t *testing.T) {
			clock := catalogtest.NewClock()
			a := catalogtest.New(t, "a", clock)
			mustRegister(t, a, catalogtest.Instance("web", "w1", 80))
			var pub []crdt.Delta
			a.SetPublisher(func(d crdt.Delta) { pub = append(pub, d) })
			twin := crdt.New("a", a.Epoch())
			twin.Put("x", []byte{0x90})
			twin.Put("y", []byte{0x90})
			d := twin.Put("z", []byte{0x90})
			own := a.Epoch()
			if via == "delta" {
				if _, err := a.Merge(d); err != nil {
					t.Fatal(err)
				}
			} else {
				a.DeltaSince(twin.Digest(), 1<<20)
			}
			if a.Epoch() <= own || len(pub) == 0 || pub[0].Epoch != a.Epoch() || !pub[0].Snapshot() {
				t.Fatalf("epoch %d (was %d), published %+v", a.Epoch(), own, pub)
			}
			// Its own old deltas are not divergent.
			pub = nil
			for _, d := range a.Announce() {
				a.Merge(d)
			}
			if len(pub) != 0 {
				t.Fatal("rebased on its own deltas")
			}
		})
	}
}

// After an origin is reaped, an older incarnation of it (wiped, clock hours
// behind) cannot come back under an epoch below the one peers saw: the floor
// shows in the digest, the owner rebases above it, and an old copy still held
// elsewhere (a healed partition) never replaces the new one.
func TestEpochFloorOutlivesReap(t *testing.T) {
	cl := newCluster(t, "a", "b")
	a, b := cl.cs["a"], cl.cs["b"]
	mustRegister(t, a, catalogtest.Instance("web", "old", 80))
	high := a.Epoch()
	// p, on the other side of a partition, keeps the old incarnation.
	p := catalogtest.New(t, "p", cl.clock)
	p.MemberAlive("a")
	catalogtest.Sync(t, 1<<20, a, p)
	a.SetPublisher(nil)
	cfg := catalog.DefaultConfig()
	b.MemberFailed("a")
	cl.advance(cfg.ReapAfter)
	if st := b.Stats(); st.Origins != 1 {
		t.Fatalf("not reaped: %+v", st)
	}
	// a comes back wiped with its clock 3 h behind: a lower epoch.
	behind := catalogtest.NewClock()
	behind.Advance(cfg.ReapAfter - 3*time.Hour)
	a2 := catalogtest.New(t, "a", behind)
	if a2.Epoch() >= high {
		t.Fatalf("test needs a lower epoch: %d >= %d", a2.Epoch(), high)
	}
	mustRegister(t, a2, catalogtest.Instance("web", "new", 80))
	b.MemberAlive("a")
	if err := mergeAll(b, a2.Announce()); err != nil {
		t.Fatal(err)
	}
	if got := ids(b.Service("web", catalog.Filter{})); strings.Join(got, " ") != "b/w2" && len(got) != 0 {
		t.Fatalf("older incarnation served: %v", got)
	}
	if got := b.Digest()["a"].Epoch; got != high {
		t.Fatalf("b's digest shows a at %d, want the floor %d", got, high)
	}
	catalogtest.Members(a2, b)
	catalogtest.Sync(t, 1<<20, a2, b)
	if a2.Epoch() <= high {
		t.Fatalf("a did not rebase above the floor: %d <= %d", a2.Epoch(), high)
	}
	// The partition heals: p's old copy meets the new incarnation.
	catalogtest.Members(a2, b, p)
	catalogtest.Sync(t, 1<<20, a2, b, p)
	for _, c := range []*catalog.Catalog{b, p} {
		if got := ids(c.Service("web", catalog.Filter{Health: catalog.HealthAny})); strings.Join(got, " ") != "a/new" {
			t.Fatalf("%s after heal: %v", c.Node(), got)
		}
	}
	// The floor is bounded in time: forgotten FloorMemory after the reap.
	b.MemberFailed("a")
	cl.advance(cfg.ReapAfter)
	if f, _ := b.Floors(); f != 1 {
		t.Fatalf("floors after the second reap: %d", f)
	}
	cl.advance(cfg.FloorMemory)
	if f, m := b.Floors(); f != 0 || m != 1 {
		t.Fatalf("after FloorMemory: %d floors, %d members kept (want p only)", f, m)
	}
}

// Per-origin bounds: records per origin and value size, for peers' deltas and
// local registrations alike.
func TestOriginBounds(t *testing.T) {
	clock := catalogtest.NewClock()
	cfg := catalogtest.Config("b", clock)
	cfg.MaxRecordsPerOrigin = 3
	cfg.MaxValueBytes = 4 << 10
	b, err := catalog.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	b.MemberAlive("a")
	a := catalogtest.New(t, "a", clock)
	var pub []crdt.Delta
	a.SetPublisher(func(d crdt.Delta) { pub = append(pub, d) })
	for _, in := range catalogtest.Instances("web", 5) {
		mustRegister(t, a, in)
	}
	if _, err := b.Merge(a.Announce()[0]); !errors.Is(err, catalog.ErrOverQuota) {
		t.Fatalf("snapshot of 5 records: %v, want ErrOverQuota", err)
	}
	for i, d := range pub {
		_, err := b.Merge(d)
		if want := i >= 3; errors.Is(err, catalog.ErrOverQuota) != want {
			t.Fatalf("record %d: %v", i, err)
		}
	}
	if got := len(b.Service("web", catalog.Filter{}).Entries); got != 3 {
		t.Fatalf("held %d records of a, want 3", got)
	}
	big := catalogtest.Instance("big", "big1", 80)
	big.Meta = map[string]string{}
	for i := range 12 {
		big.Meta[fmt.Sprint("k", i)] = strings.Repeat("v", 500)
	}
	pub = nil
	mustRegister(t, a, big)
	if _, err := b.Merge(pub[0]); !errors.Is(err, catalog.ErrTooLarge) {
		t.Fatalf("6 KiB record: %v, want ErrTooLarge", err)
	}
	// Local registrations: b refuses what its peers would.
	for i, in := range catalogtest.Instances("api", 4) {
		err := b.Register(in)
		if want := i >= 3; (err != nil) != want || want && !(errors.Is(err, catalog.ErrOverQuota) && errors.Is(err, catalog.ErrInvalidInstance)) {
			t.Fatalf("local registration %d: %v", i, err)
		}
	}
	big.Node = ""
	if err := b.Deregister("api-0"); err != nil {
		t.Fatal(err)
	}
	if err := b.Register(big); !errors.Is(err, catalog.ErrTooLarge) {
		t.Fatalf("local big registration: %v", err)
	}
}

// An agent that joins after a host died learns the failure from its peers'
// departure news, so it never serves that host's records fresh, and treats
// them as its peers do until they are reaped.
func TestJoinerLearnsDepartures(t *testing.T) {
	cl := newCluster(t, "a", "b", "d")
	a, b, d := cl.cs["a"], cl.cs["b"], cl.cs["d"]
	mustRegister(t, a, catalogtest.Instance("web", "w1", 80))
	mustRegister(t, d, catalogtest.Instance("web", "w4", 80))
	mustRegister(t, d, catalogtest.Instance("db", "d1", 5432))
	a.MemberFailed("d")
	b.MemberFailed("d")
	cl.advance(5 * time.Second)
	// c joins: SWIM tells it about a and b only.
	c := catalogtest.New(t, "c", cl.clock)
	cl.cs["c"] = c
	c.MemberAlive("a")
	c.MemberAlive("b")
	a.MemberAlive("c")
	b.MemberAlive("c")
	catalogtest.Sync(t, 1<<20, a, b, c)
	if c.Stats().Hash != a.Stats().Hash {
		t.Fatalf("the joiner does not hold what its peers hold: %+v\n%+v", c.Stats(), a.Stats())
	}
	if got := ids(c.Service("web", catalog.Filter{})); strings.Join(got, " ") != "a/w1" {
		t.Fatalf("joiner serves %v, want the dead host's instance withdrawn", got)
	}
	// Stale-over-empty, as at its peers.
	if r := c.Service("db", catalog.Filter{}); !r.Fallback || strings.Join(ids(r), " ") != "d/d1(stale)" {
		t.Fatalf("db at the joiner: %v fallback %v", ids(r), r.Fallback)
	}
	// When d comes back, c's own membership news wins.
	c.MemberAlive("d")
	if got := ids(c.Service("web", catalog.Filter{})); strings.Join(got, " ") != "a/w1 d/w4" {
		t.Fatalf("after d's return: %v", got)
	}
	c.MemberFailed("d")
	cl.advance(catalog.DefaultConfig().ReapAfter)
	if st := c.Stats(); st.Instances != 1 {
		t.Fatalf("the dead host not reaped at the joiner: %+v", st)
	}
}

// Departure news learnt from peers is bounded and dropped at ReapAfter, and
// never overrides this agent's own membership news.
func TestLearnDeparturesBounded(t *testing.T) {
	clock := catalogtest.NewClock()
	c := catalogtest.New(t, "c", clock)
	c.MemberAlive("a")
	var ds []crdt.Departure
	for i := range 70000 {
		ds = append(ds, crdt.Departure{Origin: fmt.Sprint("x", i), Epoch: 1, AgeMs: 1000})
	}
	ds = append(ds, crdt.Departure{Origin: "a", Epoch: 1}, crdt.Departure{Origin: "c", Epoch: 1})
	c.LearnDepartures("p", ds)
	if _, m := c.Floors(); m > 1<<16+1 {
		t.Fatalf("%d membership records kept", m)
	}
	mustRegister(t, c, catalogtest.Instance("web", "w1", 80))
	other := catalogtest.New(t, "a", clock)
	mustRegister(t, other, catalogtest.Instance("web", "a1", 80))
	if err := mergeAll(c, other.Announce()); err != nil {
		t.Fatal(err)
	}
	if got := ids(c.Service("web", catalog.Filter{})); strings.Join(got, " ") != "a/a1 c/w1" {
		t.Fatalf("a reported failed by a peer while alive here: %v", got)
	}
	clock.Advance(catalog.DefaultConfig().ReapAfter)
	c.Tick()
	if _, m := c.Floors(); m != 1 {
		t.Fatalf("%d membership records after ReapAfter, want 1 (a)", m)
	}
}

// TestFloorMemory measures what a reaped origin costs while its epoch floor
// and membership news are remembered (docs/protocol.md, "Epoch floor"): the
// catalog's heap per reaped origin with 20-byte names, bounded.
func TestFloorMemory(t *testing.T) {
	const n = 2000 // membership events cost O(members) each
	clock := catalogtest.NewClock()
	c := catalogtest.New(t, "c", clock)
	ds := make([]crdt.Delta, n)
	for i := range ds {
		ds[i] = crdt.Delta{Origin: fmt.Sprintf("node-%015d", i), Epoch: 1 << 62, From: 1, To: 1}
	}
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for _, d := range ds {
		c.MemberAlive(d.Origin)
		if _, err := c.Merge(d); err != nil {
			t.Fatal(err)
		}
		c.MemberFailed(d.Origin)
	}
	clock.Advance(catalog.DefaultConfig().ReapAfter)
	c.Tick()
	ds = nil
	runtime.GC()
	runtime.ReadMemStats(&after)
	if f, m := c.Floors(); f != n || m != n {
		t.Fatalf("%d floors, %d members, want %d", f, m, n)
	}
	per := float64(int64(after.HeapAlloc)-int64(before.HeapAlloc)) / n
	t.Logf("%.0f B per remembered floor (name 20 B)", per)
	if per > 400 {
		t.Errorf("%.0f B per floor, want <= 400", per)
	}
	runtime.KeepAlive(c)
}
