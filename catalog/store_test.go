package catalog_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/grapevine-sd/grapevine/catalog"
	"github.com/grapevine-sd/grapevine/catalog/catalogtest"
)

// openDir opens a catalog on dir; the test closes nothing: a catalog left
// open is a crash as far as its files go. Call Crash on the catalog left
// open before reopening its dir: a dead process no longer holds the lock.
func openDir(t *testing.T, dir string) *catalog.Catalog {
	t.Helper()
	cfg := catalogtest.Config("a", catalogtest.NewClock())
	cfg.DataDir = dir
	c, err := catalog.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func describe(c *catalog.Catalog) string {
	var out []string
	for _, r := range c.Registrations() {
		s := fmt.Sprintf("%s:%s", r.Instance.ID, r.Source)
		if r.Maintenance {
			s += "(maint " + r.Reason + ")"
		}
		for _, ch := range r.Checks {
			s += " " + string(ch)
		}
		out = append(out, s)
	}
	return strings.Join(out, ", ")
}

// TestPersistLogReplay: changes reach the log as they are acknowledged; a
// catalog that never closed (a crash) restarts with all of them, and a torn
// last line (an unfinished write) is ignored.
func TestPersistLogReplay(t *testing.T) {
	dir := t.TempDir()
	c := openDir(t, dir)
	check := json.RawMessage(`{"type":"ttl","ttl":"30s"}`)
	if err := c.RegisterWithChecks(catalogtest.Instance("web", "w1", 80), []json.RawMessage{check}); err != nil {
		t.Fatal(err)
	}
	mustRegister(t, c, catalogtest.Instance("web", "w2", 81))
	mustRegister(t, c, catalogtest.Instance("web", "w3", 82))
	if err := c.RegisterFile(catalogtest.Instance("web", "f1", 83)); err != nil {
		t.Fatal(err)
	}
	if err := c.Deregister("w2"); err != nil {
		t.Fatal(err)
	}
	if err := c.SetMaintenance("w3", true, "disk swap"); err != nil {
		t.Fatal(err)
	}
	want := `w1:api {"type":"ttl","ttl":"30s"}, w3:api(maint disk swap)`
	// The crash: c is never closed. A torn line follows the last change.
	f, err := os.OpenFile(filepath.Join(dir, "registrations.log"), os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString(`1234abcd {"put":{"instance":{"id":"w9"`)
	f.Close()
	c.Crash()
	r := openDir(t, dir)
	if got := describe(r); got != want {
		t.Fatalf("after the crash: %s\nwant %s", got, want)
	}
	// The restart folded the log into the snapshot; a clean close does too.
	r.Close()
	b, err := os.ReadFile(filepath.Join(dir, "registrations.log"))
	if err != nil || strings.Count(string(b), "\n") != 1 {
		t.Fatalf("log after close: %q %v; want the header only", b, err)
	}
	r2 := openDir(t, dir)
	defer r2.Close()
	if got := describe(r2); got != want {
		t.Fatalf("after a clean restart: %s\nwant %s", got, want)
	}
	c.Close()
}

// TestPersistLegacyChecks: a data directory of the previous layout
// (registrations.json format 1 beside the agent's checks.json) is loaded with
// the check definitions folded into the registrations, and checks.json goes.
func TestPersistLegacyChecks(t *testing.T) {
	dir := t.TempDir()
	legacy := `{"format":1,"registrations":[{"instance":{"id":"w1","service":"web","address":"10.0.0.1","port":80,"health":"passing"}}]}`
	if err := os.WriteFile(filepath.Join(dir, "registrations.json"), []byte(legacy), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "checks.json"), []byte(`{"w1":[{"type":"tcp","target":"10.0.0.1:80"}],"gone":[{}]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	c := openDir(t, dir)
	if got, want := describe(c), `w1:api {"type":"tcp","target":"10.0.0.1:80"}`; got != want {
		t.Fatalf("loaded %s, want %s", got, want)
	}
	if _, err := os.Stat(filepath.Join(dir, "checks.json")); !os.IsNotExist(err) {
		t.Errorf("checks.json still there: %v", err)
	}
	c.Close()
	b, _ := os.ReadFile(filepath.Join(dir, "registrations.json"))
	if !strings.Contains(string(b), `"format": 2`) || !strings.Contains(string(b), `"checks"`) {
		t.Errorf("registrations.json after the migration:\n%s", b)
	}
}

// TestGroupCommit: concurrent registrations share log appends, and every one
// acknowledged is there after a crash.
func TestGroupCommit(t *testing.T) {
	dir := t.TempDir()
	c := openDir(t, dir)
	before := c.LogAppends()
	const n = 64
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Go(func() {
			errs <- c.Register(catalogtest.Instance("web", fmt.Sprintf("w%02d", i), 8000+i))
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	appends := c.LogAppends() - before
	t.Logf("%d registrations in %d appends", n, appends)
	if appends >= n {
		t.Errorf("%d appends for %d concurrent registrations: no group commit", appends, n)
	}
	c.Crash()
	r := openDir(t, dir)
	defer r.Close()
	if got := len(r.Registrations()); got != n {
		t.Fatalf("after the crash: %d registrations, want %d", got, n)
	}
	if err := r.CheckInvariants(); err != nil {
		t.Fatal(err)
	}
	c.Close()
}

// TestDiskWriteOutsideTheLock: while a registration waits for the disk, the
// catalog merges peers' deltas and answers lookups, and the registration is
// neither visible nor acknowledged before its write is done.
func TestDiskWriteOutsideTheLock(t *testing.T) {
	dir := t.TempDir()
	c := openDir(t, dir)
	t.Cleanup(func() { c.Close() })
	peer := catalogtest.New(t, "b", catalogtest.NewClock())
	c.MemberAlive("b")
	mustRegister(t, peer, catalogtest.Instance("api", "p1", 80))
	entered, release := make(chan struct{}), make(chan struct{})
	var once, released sync.Once
	free := func() { released.Do(func() { close(release) }) }
	t.Cleanup(free) // before c.Close, which waits for the write
	c.SetBeforeAppend(func() {
		once.Do(func() { close(entered) })
		<-release
	})
	done := make(chan error, 1)
	go func() { done <- c.Register(catalogtest.Instance("web", "w1", 80)) }()
	select {
	case <-entered:
	case <-time.After(10 * time.Second):
		t.Fatal("the registration never reached the disk")
	}
	merged := make(chan error, 1)
	go func() {
		for _, d := range peer.DeltaSince(nil, 64<<10) {
			if _, err := c.Merge(d); err != nil {
				merged <- err
				return
			}
		}
		merged <- nil
	}()
	select {
	case err := <-merged:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Merge waited for the disk")
	}
	if got := len(c.Service("api", catalog.Filter{}).Entries); got != 1 {
		t.Errorf("merged instance not served: %d", got)
	}
	if _, ok := c.Instance("a", "w1"); ok {
		t.Error("the registration is visible before it is durable")
	}
	select {
	case err := <-done:
		t.Fatalf("acknowledged before the write finished: %v", err)
	default:
	}
	free()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if _, ok := c.Instance("a", "w1"); !ok {
		t.Error("the registration is not visible once durable")
	}
	c.SetBeforeAppend(nil)
}

// TestPersistFailedWriteChangesNothing: a registration whose log append
// fails is refused (ErrPersist) and not applied; the next one rewrites the log
// from what is applied, so after a crash the refused one does not come back.
func TestPersistFailedWriteChangesNothing(t *testing.T) {
	dir := t.TempDir()
	c := openDir(t, dir)
	mustRegister(t, c, catalogtest.Instance("web", "w1", 80))
	c.BreakLog()
	if err := c.Register(catalogtest.Instance("web", "w2", 81)); !errors.Is(err, catalog.ErrPersist) {
		t.Fatalf("register with a broken log: %v, want ErrPersist", err)
	}
	if _, ok := c.Instance("a", "w2"); ok {
		t.Fatal("a refused registration is served")
	}
	mustRegister(t, c, catalogtest.Instance("web", "w3", 82))
	if got, want := describe(c), "w1:api, w3:api"; got != want {
		t.Fatalf("registrations %s, want %s", got, want)
	}
	c.Crash()
	r := openDir(t, dir) // c never closes: a crash
	defer r.Close()
	if got, want := describe(r), "w1:api, w3:api"; got != want {
		t.Fatalf("after the crash: %s, want %s", got, want)
	}
	c.Close()
}
