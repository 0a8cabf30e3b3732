package probe

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

// healths records OnHealth calls.
type healths struct {
	mu  sync.Mutex
	got []Health
}

func (h *healths) on(x Health) {
	h.mu.Lock()
	h.got = append(h.got, x)
	h.mu.Unlock()
}

func (h *healths) list() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []string
	for _, x := range h.got {
		out = append(out, x.Owner+"="+string(x.Status))
	}
	return out
}

func (h *healths) last() Health {
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.got) == 0 {
		return Health{}
	}
	return h.got[len(h.got)-1]
}

func newOwned(t *testing.T, hs *healths, scripts map[string]*script) *Runner {
	t.Helper()
	cfg := DefaultConfig()
	cfg.Seed = 1
	cfg.OnHealth = hs.on
	r := newRunner(t, cfg)
	r.mkProbe = func(c Check) probeFunc { return scripts[c.ID].probe }
	return r
}

func passingAt(id string) Check {
	c := tcpCheck(id)
	c.InitialStatus = Passing
	return c
}

// TestSetCommitsThenPublishes: Set hands commit the health the owner will
// have, applies the checks only when commit succeeds, and then publishes the
// owner's health; later transitions of any check arrive aggregated per owner.
func TestSetCommitsThenPublishes(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		hs := &healths{}
		scripts := map[string]*script{"a": {results: []Status{Passing}}, "b": {results: []Status{Passing, Warning}}}
		r := newOwned(t, hs, scripts)
		defer r.Close()

		// A failing commit changes nothing.
		boom := errors.New("catalog says no")
		if err := r.Set("web-1", []Check{tcpCheck("a")}, func(Health) error { return boom }); !errors.Is(err, boom) {
			t.Fatalf("Set with failing commit = %v, want %v", err, boom)
		}
		if got := r.ByOwner("web-1"); len(got) != 0 {
			t.Fatalf("after a failed commit: %d checks run", len(got))
		}

		var committed Health
		if err := r.Set("web-1", []Check{tcpCheck("a"), passingAt("b")}, func(h Health) error { committed = h; return nil }); err != nil {
			t.Fatal(err)
		}
		if committed.Owner != "web-1" || committed.Status != Critical {
			t.Errorf("commit got %+v, want web-1 critical (a starts critical)", committed)
		}
		synctest.Wait()
		if got := hs.list(); len(got) != 1 || got[0] != "web-1=critical" {
			t.Fatalf("after Set: OnHealth %v, want [web-1=critical]", got)
		}
		// a passes: the owner turns passing; then b warns: warning.
		time.Sleep(30 * time.Second)
		synctest.Wait()
		if got := hs.last(); got.Status != Warning || got.Output != "scripted warning" {
			t.Errorf("last health %+v, want warning with b's output", got)
		}
		if got := r.Health("web-1"); got != hs.last() {
			t.Errorf("Health = %+v, last published %+v", got, hs.last())
		}
		seen := fmt.Sprint(hs.list())
		if want := "[web-1=critical web-1=passing web-1=warning]"; seen != want {
			t.Errorf("OnHealth sequence %s, want %s", seen, want)
		}
	})
}

// TestSetKeepsUnchangedChecks: re-registering with the same definitions keeps
// the running checks and their state; a changed or new check restarts from its
// initial status; a check left out stops.
func TestSetKeepsUnchangedChecks(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		hs := &healths{}
		scripts := map[string]*script{"a": {results: []Status{Passing}}, "b": {results: []Status{Passing}}, "c": {results: []Status{Passing}}}
		r := newOwned(t, hs, scripts)
		defer r.Close()
		if err := r.Set("o", []Check{tcpCheck("a"), tcpCheck("b")}, nil); err != nil {
			t.Fatal(err)
		}
		time.Sleep(10 * time.Second)
		synctest.Wait()
		if got := r.Health("o"); got.Status != Passing {
			t.Fatalf("health %+v, want passing", got)
		}
		plan, err := r.Plan("o", []Check{tcpCheck("a"), tcpCheck("c")})
		if err != nil || plan.Status != Critical {
			t.Errorf("Plan with a new check c = %+v, %v; want critical (c starts critical)", plan, err)
		}
		if got, _ := r.Status("b"); got.Status != Passing {
			t.Errorf("Plan changed something: b %+v", got)
		}
		var committed Health
		if err := r.Set("o", []Check{tcpCheck("a")}, func(h Health) error { committed = h; return nil }); err != nil {
			t.Fatal(err)
		}
		if committed.Status != Passing || committed.Output != "scripted passing" {
			t.Errorf("commit %+v, want a's running state (passing)", committed)
		}
		if _, ok := r.Status("b"); ok {
			t.Error("b still runs after a Set without it")
		}
		if got, _ := r.Status("a"); got.Status != Passing {
			t.Errorf("a restarted: %+v", got)
		}
		if err := r.Set("o", nil, nil); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		if got := hs.last(); got.Status != Passing || got.Owner != "o" || len(r.ByOwner("o")) != 0 {
			t.Errorf("no checks: last %+v, %d checks; want passing and none", got, len(r.ByOwner("o")))
		}
	})
}

func TestSetRefuses(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		hs := &healths{}
		r := newOwned(t, hs, map[string]*script{"a": {results: []Status{Passing}}, "b": {results: []Status{Passing}}})
		defer r.Close()
		if err := r.Set("one", []Check{tcpCheck("a")}, nil); err != nil {
			t.Fatal(err)
		}
		committed := false
		commit := func(Health) error { committed = true; return nil }
		tests := []struct {
			name   string
			checks []Check
			want   error
		}{
			{"another owner's check id", []Check{tcpCheck("b"), tcpCheck("a")}, ErrCheckOwned},
			{"an id twice", []Check{tcpCheck("b"), tcpCheck("b")}, ErrInvalidCheck},
			{"an invalid check", []Check{{ID: "b", Type: "smoke"}}, ErrInvalidCheck},
		}
		for _, tc := range tests {
			if err := r.Set("two", tc.checks, commit); !errors.Is(err, tc.want) {
				t.Errorf("%s: Set = %v, want %v", tc.name, err, tc.want)
			}
			if _, err := r.Plan("two", tc.checks); !errors.Is(err, tc.want) {
				t.Errorf("%s: Plan = %v, want %v", tc.name, err, tc.want)
			}
		}
		if committed || len(r.ByOwner("two")) != 0 {
			t.Errorf("a refused Set committed (%v) or started checks (%d)", committed, len(r.ByOwner("two")))
		}
		r.Close()
		if err := r.Set("two", nil, commit); !errors.Is(err, ErrClosed) {
			t.Errorf("Set after Close = %v, want ErrClosed", err)
		}
	})
}

// TestSetConcurrentOwners: Sets of different owners commit concurrently (a
// commit waiting for another owner's commit does not deadlock), and a check ID
// planned by one Set in flight is refused to another owner until that Set
// applies; Sets of one owner stay serialized.
func TestSetConcurrentOwners(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		hs := &healths{}
		scripts := map[string]*script{"a": {results: []Status{Passing}}, "b": {results: []Status{Passing}}}
		r := newOwned(t, hs, scripts)
		defer r.Close()

		inA, releaseA := make(chan struct{}), make(chan struct{})
		errA := make(chan error, 1)
		go func() {
			errA <- r.Set("web-1", []Check{tcpCheck("a")}, func(Health) error {
				close(inA)
				<-releaseA
				return nil
			})
		}()
		<-inA // web-1's commit is on its way to the disk

		// Another owner commits meanwhile.
		if err := r.Set("web-2", []Check{tcpCheck("b")}, func(Health) error { return nil }); err != nil {
			t.Fatalf("Set of another owner during a commit: %v", err)
		}
		// web-1's check ID is reserved for it.
		if err := r.Set("web-3", []Check{tcpCheck("a")}, func(Health) error { return nil }); !errors.Is(err, ErrCheckOwned) {
			t.Fatalf("Set claiming a check id of a Set in flight = %v, want ErrCheckOwned", err)
		}
		// A second Set of web-1 waits for the first.
		second := make(chan error, 1)
		go func() { second <- r.Set("web-1", nil, nil) }()
		synctest.Wait()
		select {
		case err := <-second:
			t.Fatalf("a second Set of the same owner returned (%v) while the first was in its commit", err)
		default:
		}
		close(releaseA)
		if err := <-errA; err != nil {
			t.Fatal(err)
		}
		if err := <-second; err != nil {
			t.Fatal(err)
		}
		if got := r.ByOwner("web-1"); len(got) != 0 {
			t.Errorf("web-1 runs %d checks after its second Set removed them", len(got))
		}
		if got := r.ByOwner("web-2"); len(got) != 1 {
			t.Errorf("web-2 runs %d checks, want 1", len(got))
		}
		// Once web-1 let go of check a, another owner may take it.
		if err := r.Set("web-3", []Check{tcpCheck("a")}, nil); err != nil {
			t.Errorf("Set of a released check id: %v", err)
		}
		if len(r.reserved) != 0 || len(r.owners.locks) != 0 {
			t.Errorf("left %d reservations and %d owner locks", len(r.reserved), len(r.owners.locks))
		}
	})
}

// TestRemoveOwnerWithWaitsForSet: removing an owner (the agent deregisters
// its instance in commit) waits for a Set of the same owner in flight, so
// the Set's checks cannot outlive the instance, nor the removal take the
// checks of the registration that follows it; a failed commit removes
// nothing.
func TestRemoveOwnerWithWaitsForSet(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		hs := &healths{}
		scripts := map[string]*script{"a": {results: []Status{Passing}}}
		r := newOwned(t, hs, scripts)
		defer r.Close()

		inSet, releaseSet := make(chan struct{}), make(chan struct{})
		setDone := make(chan error, 1)
		go func() {
			setDone <- r.Set("web-1", []Check{tcpCheck("a")}, func(Health) error {
				close(inSet)
				<-releaseSet
				return nil
			})
		}()
		<-inSet
		committed := make(chan struct{})
		removed := make(chan int, 1)
		go func() {
			n, err := r.RemoveOwnerWith("web-1", func() error { close(committed); return nil })
			if err != nil {
				t.Error(err)
			}
			removed <- n
		}()
		synctest.Wait()
		select {
		case <-committed:
			t.Fatal("RemoveOwnerWith's commit ran during a Set of the same owner")
		default:
		}
		close(releaseSet)
		if err := <-setDone; err != nil {
			t.Fatal(err)
		}
		if n := <-removed; n != 1 {
			t.Errorf("removed %d checks, want the Set's 1", n)
		}
		if got := r.ByOwner("web-1"); len(got) != 0 {
			t.Errorf("web-1 runs %d checks after its removal", len(got))
		}

		if err := r.Set("web-1", []Check{tcpCheck("a")}, nil); err != nil {
			t.Fatal(err)
		}
		boom := errors.New("boom")
		if n, err := r.RemoveOwnerWith("web-1", func() error { return boom }); !errors.Is(err, boom) || n != 0 {
			t.Errorf("RemoveOwnerWith with a failing commit = %d, %v; want 0, boom", n, err)
		}
		if got := r.ByOwner("web-1"); len(got) != 1 {
			t.Errorf("a failed removal left %d checks, want 1", len(got))
		}
		if len(r.owners.locks) != 0 {
			t.Errorf("left %d owner locks", len(r.owners.locks))
		}
	})
}
