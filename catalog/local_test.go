package catalog_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/grapevine-sd/grapevine/catalog"
	"github.com/grapevine-sd/grapevine/catalog/catalogtest"
	"github.com/grapevine-sd/grapevine/crdt"
)

func TestLocalWrites(t *testing.T) {
	c := catalogtest.New(t, "a", catalogtest.NewClock())
	var pub []crdt.Delta
	c.SetPublisher(func(d crdt.Delta) { pub = append(pub, d) })
	in := catalogtest.Instance("web", "w1", 80)
	in.Health = 0 // means passing
	mustRegister(t, c, in)
	mustRegister(t, c, in) // identical: no delta
	steps := []struct {
		name   string
		do     func() error
		deltas int
		health catalog.Health
		output string
	}{
		{"same health", func() error { return c.SetHealth("w1", catalog.HealthPassing, "ok") }, 0, catalog.HealthPassing, "ok"},
		{"critical", func() error { return c.SetHealth("w1", catalog.HealthCritical, "down") }, 1, catalog.HealthCritical, "down"},
		{"maintenance", func() error { return c.SetMaintenance("w1", true, "upgrade") }, 1, catalog.HealthMaintenance, "upgrade"},
		{"check under maintenance", func() error { return c.SetHealth("w1", catalog.HealthPassing, "up") }, 0, catalog.HealthMaintenance, "upgrade"},
		{"maintenance off", func() error { return c.SetMaintenance("w1", false, "") }, 1, catalog.HealthPassing, "up"},
		{"maintenance off again", func() error { return c.SetMaintenance("w1", false, "") }, 0, catalog.HealthPassing, "up"},
	}
	if len(pub) != 1 {
		t.Fatalf("register twice: %d deltas, want 1", len(pub))
	}
	for _, s := range steps {
		pub = nil
		if err := s.do(); err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		if len(pub) != s.deltas {
			t.Fatalf("%s: %d deltas, want %d", s.name, len(pub), s.deltas)
		}
		l := c.Local()
		if len(l) != 1 || l[0].Health != s.health || l[0].Output != s.output {
			t.Fatalf("%s: Local() = %+v", s.name, l)
		}
		r := c.Service("web", catalog.Filter{Health: catalog.HealthAny})
		if r.Entries[0].Health != s.health {
			t.Fatalf("%s: served health %v, want %v", s.name, r.Entries[0].Health, s.health)
		}
	}
	if err := c.SetHealth("nope", catalog.HealthPassing, ""); !errors.Is(err, catalog.ErrNotFound) {
		t.Fatalf("SetHealth unknown: %v", err)
	}
	if err := c.SetHealth("w1", catalog.HealthMaintenance, ""); !errors.Is(err, catalog.ErrInvalidInstance) {
		t.Fatalf("SetHealth maintenance: %v", err)
	}
	other := in
	other.Node = "b"
	if err := c.Register(other); !errors.Is(err, catalog.ErrInvalidInstance) {
		t.Fatalf("foreign node: %v", err)
	}
	pub = nil
	if err := c.Deregister("w1"); err != nil || len(pub) != 1 || !pub[0].Entries[0].Deleted {
		t.Fatalf("deregister: %v %+v", err, pub)
	}
	if err := c.Deregister("w1"); !errors.Is(err, catalog.ErrNotFound) {
		t.Fatalf("deregister twice: %v", err)
	}
	if r := c.Service("web", catalog.Filter{Health: catalog.HealthAny}); len(r.Entries) != 0 {
		t.Fatalf("after deregister: %v", ids(r))
	}
}

func TestSyncFiles(t *testing.T) {
	c := catalogtest.New(t, "a", catalogtest.NewClock())
	mustRegister(t, c, catalogtest.Instance("api", "from-api", 1))
	files := catalogtest.Instances("web", 3)
	if err := c.SyncFiles(files); err != nil {
		t.Fatal(err)
	}
	bad := catalogtest.Instance("BAD", "x", 1)
	if err := c.SyncFiles(append(files[1:], bad)); !errors.Is(err, catalog.ErrInvalidInstance) {
		t.Fatalf("bad file instance: %v", err)
	}
	var got []string
	for _, r := range c.Registrations() {
		got = append(got, r.Instance.ID+":"+r.Source.String())
	}
	if want := "from-api:api web-1:file web-2:file"; strings.Join(got, " ") != want {
		t.Fatalf("got %v, want %s", got, want)
	}
}

func TestPersistence(t *testing.T) {
	dir := t.TempDir()
	clock := catalogtest.NewClock()
	cfg := catalogtest.Config("a", clock)
	cfg.DataDir = dir
	c1, err := catalog.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	mustRegister(t, c1, catalogtest.Instance("web", "w1", 80, "blue"))
	mustRegister(t, c1, catalogtest.Instance("web", "w2", 81))
	if err := c1.RegisterFile(catalogtest.Instance("web", "f1", 82)); err != nil {
		t.Fatal(err)
	}
	if err := c1.SetMaintenance("w2", true, "disk"); err != nil {
		t.Fatal(err)
	}
	e1 := c1.Epoch()
	c1.Close()

	// Restart with the same directory and a clock that stepped back: a newer
	// epoch anyway, the API registrations back, the file one not.
	c2, err := catalog.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	if c2.Epoch() <= e1 {
		t.Fatalf("epoch %d not above %d", c2.Epoch(), e1)
	}
	regs := c2.Registrations()
	if len(regs) != 2 || regs[0].Instance.ID != "w1" || regs[0].Instance.Tags[0] != "blue" ||
		!regs[1].Maintenance || regs[1].Reason != "disk" || regs[1].Instance.Version.Epoch != c2.Epoch() {
		t.Fatalf("restored %+v", regs)
	}
	if len(c2.Warnings()) != 0 {
		t.Fatalf("warnings %v", c2.Warnings())
	}
	// A peer that held the old epoch gets the new one and drops f1.
	peer := catalogtest.New(t, "p", clock)
	catalogtest.Members(c1, peer)
	catalogtest.Sync(t, 4096, c1, peer)
	catalogtest.Sync(t, 4096, c2, peer)
	if got := ids(peer.Service("web", catalog.Filter{Health: catalog.HealthAny})); strings.Join(got, " ") != "a/w1 a/w2" {
		t.Fatalf("peer after restart: %v", got)
	}
}

func TestPersistenceCorrupt(t *testing.T) {
	for _, file := range []string{"epoch.json", "registrations.json"} {
		t.Run(file, func(t *testing.T) {
			dir := t.TempDir()
			cfg := catalogtest.Config("a", catalogtest.NewClock())
			cfg.DataDir = dir
			c1, err := catalog.New(cfg)
			if err != nil {
				t.Fatal(err)
			}
			mustRegister(t, c1, catalogtest.Instance("web", "w1", 80))
			c1.Close()
			if err := os.WriteFile(filepath.Join(dir, file), []byte("{not json"), 0o600); err != nil {
				t.Fatal(err)
			}
			c2, err := catalog.New(cfg)
			if err != nil {
				t.Fatal(err)
			}
			defer c2.Close()
			if w := c2.Warnings(); len(w) != 1 || !strings.Contains(w[0], "corrupt") {
				t.Fatalf("warnings %v", w)
			}
			aside, _ := filepath.Glob(filepath.Join(dir, file+".corrupt-*"))
			if len(aside) != 1 {
				t.Fatalf("set aside: %v", aside)
			}
			wantRegs := 1
			if file == "registrations.json" {
				wantRegs = 0
			}
			if got := len(c2.Local()); got != wantRegs {
				t.Fatalf("%d registrations, want %d", got, wantRegs)
			}
			// The catalog keeps working and writes good files again.
			mustRegister(t, c2, catalogtest.Instance("web", "w3", 80))
		})
	}
}

func TestRebaseOnNewerSelfEpoch(t *testing.T) {
	clock := catalogtest.NewClock()
	a := catalogtest.New(t, "a", clock)
	mustRegister(t, a, catalogtest.Instance("web", "w1", 80))
	var pub []crdt.Delta
	a.SetPublisher(func(d crdt.Delta) { pub = append(pub, d) })
	// A previous incarnation of "a" with a higher epoch, as a peer holds it.
	old := crdt.New("a", a.Epoch()+1000)
	d := old.Put("ghost", []byte{0x90})
	if _, err := a.Merge(d); err != nil {
		t.Fatalf("merge of newer self epoch: %v", err)
	}
	if a.Epoch() <= d.Epoch {
		t.Fatalf("epoch %d not above %d", a.Epoch(), d.Epoch)
	}
	if len(pub) == 0 || pub[0].Epoch != a.Epoch() || !pub[0].Snapshot() {
		t.Fatalf("published %+v", pub)
	}
	peer := catalogtest.New(t, "p", clock)
	peer.MemberAlive("a")
	if _, err := peer.Merge(d); err != nil {
		t.Fatal(err)
	}
	for _, d := range pub {
		if _, err := peer.Merge(d); err != nil {
			t.Fatal(err)
		}
	}
	if got := ids(peer.Service("web", catalog.Filter{})); strings.Join(got, " ") != "a/w1" {
		t.Fatalf("peer: %v", got)
	}
	if l := a.Local(); l[0].Version.Epoch != a.Epoch() {
		t.Fatalf("local version %+v", l[0].Version)
	}
}
