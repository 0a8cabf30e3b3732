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
