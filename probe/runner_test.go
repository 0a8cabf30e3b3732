package probe

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/grapevine-sd/grapevine/internal/leaktest"
)

func TestThresholds(t *testing.T) {
	const P, W, C = Passing, Warning, Critical
	tests := []struct {
		name       string
		rise, fall int
		initial    Status
		results    []Status
		want       []Status // state after each result
	}{
		{"rise 1 from critical", 1, 2, C, []Status{P, P}, []Status{P, P}},
		{"rise 2 needs two", 2, 2, C, []Status{P, C, P, P}, []Status{C, C, C, P}},
		{"fall 2 ignores one blip", 1, 2, P, []Status{C, P, C, C}, []Status{P, P, P, C}},
		{"fall 3", 1, 3, P, []Status{C, C, C}, []Status{P, P, C}},
		{"fall takes latest non-passing", 1, 2, P, []Status{C, W, W, C}, []Status{P, W, W, C}},
		{"warning counts toward fall", 1, 1, P, []Status{W, P}, []Status{W, P}},
		{"non-passing to non-passing needs fall too", 1, 2, C, []Status{W, W, C}, []Status{C, W, C}},
		{"rise resets on failure", 3, 1, C, []Status{P, P, W, P, P, P}, []Status{C, C, W, W, W, P}},
		{"initial passing stays", 2, 2, P, []Status{P, P}, []Status{P, P}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := &Runner{checks: map[string]*entry{}}
			e := &entry{check: Check{ID: "c", Rise: tt.rise, Fall: tt.fall}, state: tt.initial}
			r.checks["c"] = e
			for i, st := range tt.results {
				r.recordLocked(e, st, "out", time.Now())
				if e.state != tt.want[i] {
					t.Fatalf("after result %d (%s): got state %s, want %s", i, st, e.state, tt.want[i])
				}
			}
		})
	}
}

func TestAggregate(t *testing.T) {
	res := func(ss ...Status) []Result {
		var out []Result
		for _, s := range ss {
			out = append(out, Result{Status: s})
		}
		return out
	}
	tests := []struct {
		in   []Result
		want Status
	}{
		{nil, Passing},
		{res(Passing, Passing), Passing},
		{res(Passing, Warning), Warning},
		{res(Warning, Critical, Passing), Critical},
		{res(Passing, "bogus"), Critical},
	}
	for _, tt := range tests {
		if got := Aggregate(tt.in); got != tt.want {
			t.Errorf("Aggregate(%v) = %s, want %s", tt.in, got, tt.want)
		}
	}
}

func TestClipOutput(t *testing.T) {
	long := strings.Repeat("é", MaxOutput) // 2 bytes per rune
	got := clipOutput(long)
	if len(got) > MaxOutput || !strings.HasSuffix(got, truncatedMark) || !strings.HasPrefix(got, "é") {
		t.Errorf("clipOutput: %d bytes, suffix ok %v", len(got), strings.HasSuffix(got, truncatedMark))
	}
	if got := clipOutput("a\xffb"); got != "a?b" {
		t.Errorf("clipOutput invalid UTF-8 = %q, want \"a?b\"", got)
	}
}

// script is a probe whose results a test dictates; it records call times.
type script struct {
	mu      sync.Mutex
	results []Status // returned in order; the last one repeats
	calls   []time.Time
	block   chan struct{} // if non-nil, each call waits on it, ignoring ctx
}

func (s *script) probe(ctx context.Context) (Status, string) {
	s.mu.Lock()
	s.calls = append(s.calls, time.Now())
	st := s.results[0]
	if len(s.results) > 1 {
		s.results = s.results[1:]
	}
	block := s.block
	s.mu.Unlock()
	if block != nil {
		<-block
	}
	return st, "scripted " + string(st)
}

func (s *script) callTimes() []time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]time.Time(nil), s.calls...)
}

// recorder collects callbacks.
type recorder struct {
	mu     sync.Mutex
	events []Result
	dereg  []Result
}

func (rc *recorder) onChange(r Result) {
	rc.mu.Lock()
	rc.events = append(rc.events, r)
	rc.mu.Unlock()
}
func (rc *recorder) onDeregister(r Result) {
	rc.mu.Lock()
	rc.dereg = append(rc.dereg, r)
	rc.mu.Unlock()
}
func (rc *recorder) changes() []string {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	var out []string
	for _, e := range rc.events {
		out = append(out, e.CheckID+":"+string(e.Previous)+">"+string(e.Status))
	}
	return out
}

// newScripted returns a Runner (inside a synctest bubble) whose non-TTL checks
// run the given scripts by check ID.
func newScripted(t *testing.T, rc *recorder, scripts map[string]*script) *Runner {
	t.Helper()
	cfg := DefaultConfig()
	cfg.Seed = 1
	cfg.OnChange, cfg.OnDeregister = rc.onChange, rc.onDeregister
	r := newRunner(t, cfg)
	r.mkProbe = func(c Check) probeFunc { return scripts[c.ID].probe }
	return r
}

func tcpCheck(id string) Check {
	return Check{ID: id, Type: TCP, Target: "127.0.0.1:1", Interval: 10 * time.Second, Timeout: time.Second}
}

func equal(a, b []string) bool { return strings.Join(a, ",") == strings.Join(b, ",") }

func TestRunnerSchedule(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rc := &recorder{}
		s := &script{results: []Status{Passing, Passing, Critical, Critical, Passing}}
		r := newScripted(t, rc, map[string]*script{"a": s})
		defer r.Close()
		start := time.Now()
		if err := r.Add("inst-1", tcpCheck("a")); err != nil {
			t.Fatal(err)
		}
		if got, _ := r.Status("a"); got.Status != Critical || got.Owner != "inst-1" {
			t.Fatalf("initial status %+v, want critical of inst-1", got)
		}
		time.Sleep(45 * time.Second)
		synctest.Wait()
		calls := s.callTimes()
		if len(calls) != 5 {
			t.Fatalf("got %d probes in 45s, want 5", len(calls))
		}
		if splay := calls[0].Sub(start); splay >= DefaultConfig().MaxSplay {
			t.Errorf("first probe after %s, want < MaxSplay", splay)
		}
		for i := 1; i < len(calls); i++ {
			if d := calls[i].Sub(calls[i-1]); d != 10*time.Second {
				t.Errorf("probe %d came %s after the previous, want 10s", i, d)
			}
		}
		want := []string{"a:critical>passing", "a:passing>critical", "a:critical>passing"}
		if got := rc.changes(); !equal(got, want) {
			t.Errorf("changes %v, want %v", got, want)
		}
		if got := r.ByOwner("inst-1"); len(got) != 1 || got[0].Output != "scripted passing" || Aggregate(got) != Passing {
			t.Errorf("ByOwner = %+v", got)
		}
	})
}

func TestRunnerSplayIsSeeded(t *testing.T) {
	firsts := func() []time.Duration {
		var out []time.Duration
		synctest.Test(t, func(t *testing.T) {
			scripts := map[string]*script{}
			for _, id := range []string{"a", "b", "c", "d"} {
				scripts[id] = &script{results: []Status{Passing}}
			}
			r := newScripted(t, &recorder{}, scripts)
			defer r.Close()
			start := time.Now()
			for _, id := range []string{"a", "b", "c", "d"} {
				if err := r.Add("o", tcpCheck(id)); err != nil {
					t.Fatal(err)
				}
			}
			time.Sleep(6 * time.Second)
			for _, id := range []string{"a", "b", "c", "d"} {
				out = append(out, scripts[id].callTimes()[0].Sub(start))
			}
		})
		return out
	}
	a, b := firsts(), firsts()
	distinct := map[time.Duration]bool{}
	for i := range a {
		if a[i] != b[i] {
			t.Errorf("check %d: first probe at %s then %s with the same seed", i, a[i], b[i])
		}
		distinct[a[i]] = true
	}
	if len(distinct) < 3 {
		t.Errorf("first probes %v: checks are synchronized", a)
	}
}

func TestRunnerTTL(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rc := &recorder{}
		r := newScripted(t, rc, map[string]*script{"web": {results: []Status{Passing}}})
		defer r.Close()
		if err := r.Add("inst", Check{ID: "beat", Type: TTL, TTL: 10 * time.Second}); err != nil {
			t.Fatal(err)
		}
		if err := r.Add("inst", tcpCheck("web")); err != nil {
			t.Fatal(err)
		}
		errTests := []struct {
			id     string
			status Status
			want   error
		}{
			{"nope", Passing, ErrUnknownCheck},
			{"web", Passing, ErrNotTTL},
			{"beat", "ok", ErrInvalidStatus},
			{"beat", "", ErrInvalidStatus},
		}
		for _, tt := range errTests {
			if err := r.UpdateTTL(tt.id, tt.status, ""); !errors.Is(err, tt.want) {
				t.Errorf("UpdateTTL(%q, %q) = %v, want %v", tt.id, tt.status, err, tt.want)
			}
		}
		if err := r.UpdateTTL("beat", Passing, "fine"); err != nil {
			t.Fatal(err)
		}
		time.Sleep(9 * time.Second)
		if err := r.UpdateTTL("beat", Warning, strings.Repeat("z", 2*MaxOutput)); err != nil {
			t.Fatal(err)
		}
		time.Sleep(9 * time.Second) // 18s after the first update: refreshed, not expired
		if got, _ := r.Status("beat"); got.Status != Warning || len(got.Output) > MaxOutput {
			t.Errorf("after refresh: %s with %d bytes, want warning within MaxOutput", got.Status, len(got.Output))
		}
		time.Sleep(2 * time.Second)
		synctest.Wait()
		got, _ := r.Status("beat")
		if got.Status != Critical || !strings.Contains(got.Output, "ttl expired") {
			t.Errorf("after ttl: %+v, want critical ttl expired", got)
		}
		var beats []string
		for _, c := range rc.changes() {
			if strings.HasPrefix(c, "beat:") {
				beats = append(beats, c)
			}
		}
		want := []string{"beat:critical>passing", "beat:passing>warning", "beat:warning>critical"}
		if !equal(beats, want) {
			t.Errorf("changes %v, want %v", beats, want)
		}
		if err := r.UpdateTTL("beat", Passing, ""); err != nil {
			t.Fatal(err)
		}
		if got, _ := r.Status("beat"); got.Status != Passing {
			t.Errorf("after revival: %s, want passing", got.Status)
		}
	})
}

func TestRunnerWatchdog(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rc := &recorder{}
		s := &script{results: []Status{Passing}, block: make(chan struct{})}
		r := newScripted(t, rc, map[string]*script{"a": s})
		defer r.Close()
		c := tcpCheck("a")
		c.InitialStatus = Passing
		if err := r.Add("o", c); err != nil {
			t.Fatal(err)
		}
		time.Sleep(5 * time.Second) // past the splay: the probe hangs
		if len(s.callTimes()) != 1 {
			t.Fatalf("got %d probe calls, want 1", len(s.callTimes()))
		}
		stuckAt := s.callTimes()[0].Add(c.Timeout + DefaultConfig().WatchdogGrace)
		time.Sleep(time.Until(stuckAt) - time.Millisecond)
		if got, _ := r.Status("a"); got.Status != Passing {
			t.Fatalf("before timeout+grace: %s, want passing", got.Status)
		}
		time.Sleep(time.Millisecond)
		synctest.Wait()
		got, _ := r.Status("a")
		if got.Status != Critical || !strings.Contains(got.Output, "probe stuck") {
			t.Fatalf("after timeout+grace: %+v, want critical probe stuck", got)
		}
		time.Sleep(time.Minute) // no second probe while the first hangs
		if n := len(s.callTimes()); n != 1 {
			t.Errorf("%d probes started while one hangs, want 1", n)
		}
		close(s.block) // it finally returns passing: rise 1 brings it back
		synctest.Wait()
		if got, _ := r.Status("a"); got.Status != Passing {
			t.Errorf("after the probe returned: %s, want passing", got.Status)
		}
		want := []string{"a:passing>critical", "a:critical>passing"}
		if got := rc.changes(); !equal(got, want) {
			t.Errorf("changes %v, want %v", got, want)
		}
	})
}

func TestRunnerDeregister(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rc := &recorder{}
		s := &script{results: []Status{Critical}}
		r := newScripted(t, rc, map[string]*script{"a": s})
		defer r.Close()
		c := tcpCheck("a")
		c.DeregisterCriticalAfter = time.Minute
		if err := r.Add("o", c); err != nil {
			t.Fatal(err)
		}
		ttl := Check{ID: "t", Type: TTL, TTL: 10 * time.Second, InitialStatus: Passing, DeregisterCriticalAfter: 2 * time.Minute}
		if err := r.Add("o2", ttl); err != nil {
			t.Fatal(err)
		}
		time.Sleep(59 * time.Second)
		synctest.Wait()
		rc.mu.Lock()
		n := len(rc.dereg)
		rc.mu.Unlock()
		if n != 0 {
			t.Fatalf("deregistered after 59s: %+v", rc.dereg)
		}
		time.Sleep(5 * time.Minute)
		synctest.Wait()
		rc.mu.Lock()
		defer rc.mu.Unlock()
		if len(rc.dereg) != 2 || rc.dereg[0].Owner != "o" || rc.dereg[1].Owner != "o2" {
			t.Errorf("deregister calls %+v, want o then o2 once each", rc.dereg)
		}
	})
}

func TestRunnerCallbackDoesNotBlockProbes(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		gate := make(chan struct{})
		var mu sync.Mutex
		var seen []Status
		s := &script{results: []Status{Passing, Critical, Critical, Passing, Critical, Critical}}
		cfg := DefaultConfig()
		var r *Runner
		cfg.OnChange = func(res Result) {
			<-gate
			if _, ok := r.Status(res.CheckID); !ok { // calling back into the runner is fine
				t.Error("Status inside OnChange: not found")
			}
			mu.Lock()
			seen = append(seen, res.Status)
			mu.Unlock()
		}
		r = newRunner(t, cfg)
		r.mkProbe = func(Check) probeFunc { return s.probe }
		defer r.Close()
		if err := r.Add("o", tcpCheck("a")); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Minute)
		if n := len(s.callTimes()); n < 6 {
			t.Fatalf("only %d probes ran while OnChange was blocked", n)
		}
		close(gate)
		synctest.Wait()
		mu.Lock()
		defer mu.Unlock()
		if want := []Status{Passing, Critical, Passing, Critical}; !equal(statusStrings(seen), statusStrings(want)) {
			t.Errorf("OnChange saw %v, want %v in order", seen, want)
		}
	})
}

func statusStrings(ss []Status) []string {
	var out []string
	for _, s := range ss {
		out = append(out, string(s))
	}
	return out
}

func TestRunnerAddRemove(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rc := &recorder{}
		scripts := map[string]*script{"a": {results: []Status{Passing}}, "b": {results: []Status{Passing}}, "c": {results: []Status{Passing}}}
		r := newScripted(t, rc, scripts)
		for _, id := range []string{"a", "b"} {
			if err := r.Add("o1", tcpCheck(id)); err != nil {
				t.Fatal(err)
			}
		}
		if err := r.Add("o2", tcpCheck("c")); err != nil {
			t.Fatal(err)
		}
		bad := tcpCheck("a")
		bad.Interval = time.Millisecond
		if err := r.Add("o1", bad); !errors.Is(err, ErrInvalidCheck) {
			t.Errorf("Add(invalid) = %v, want ErrInvalidCheck", err)
		}
		time.Sleep(6 * time.Second)
		if got, _ := r.Status("a"); got.Status != Passing {
			t.Fatalf("a is %s, want passing (and the invalid Add changed nothing)", got.Status)
		}
		// Same owner and definition: kept as is.
		if err := r.Add("o1", tcpCheck("a")); err != nil {
			t.Fatal(err)
		}
		if got, _ := r.Status("a"); got.Status != Passing {
			t.Errorf("identical re-add reset a to %s", got.Status)
		}
		// Changed definition: replaced, back to its initial status.
		changed := tcpCheck("a")
		changed.Fall = 5
		if err := r.Add("o1", changed); err != nil {
			t.Fatal(err)
		}
		if got, _ := r.Status("a"); got.Status != Critical {
			t.Errorf("replaced check is %s, want critical (initial)", got.Status)
		}
		if err := r.Remove("b"); err != nil {
			t.Fatal(err)
		}
		if err := r.Remove("b"); !errors.Is(err, ErrUnknownCheck) {
			t.Errorf("second Remove = %v, want ErrUnknownCheck", err)
		}
		if _, ok := r.Status("b"); ok {
			t.Error("removed check still has a status")
		}
		if n := r.RemoveOwner("o1"); n != 1 {
			t.Errorf("RemoveOwner(o1) = %d, want 1", n)
		}
		if got := r.ByOwner("o1"); len(got) != 0 {
			t.Errorf("ByOwner(o1) after RemoveOwner = %v", got)
		}
		if got := r.ByOwner("o2"); len(got) != 1 {
			t.Errorf("ByOwner(o2) = %v, want c", got)
		}
		nb := len(scripts["b"].callTimes())
		time.Sleep(time.Minute)
		if got := len(scripts["b"].callTimes()); got != nb {
			t.Errorf("removed check b probed %d more times", got-nb)
		}
		r.Close()
		r.Close()
		if err := r.Add("o3", tcpCheck("d")); !errors.Is(err, ErrClosed) {
			t.Errorf("Add after Close = %v, want ErrClosed", err)
		}
	})
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		mod  func(*Config)
		ok   bool
	}{
		{"default", func(*Config) {}, true},
		{"full interval splay", func(c *Config) { c.MaxSplay = 0 }, true},
		{"negative splay", func(c *Config) { c.MaxSplay = -1 }, false},
		{"no grace", func(c *Config) { c.WatchdogGrace = 0 }, false},
	}
	for _, tt := range tests {
		c := DefaultConfig()
		tt.mod(&c)
		if err := c.Validate(); (err == nil) != tt.ok {
			t.Errorf("%s: Validate() = %v, want ok=%v", tt.name, err, tt.ok)
		}
	}
}

// TestRunnerRealProbes runs real HTTP, TCP and exec checks on loopback and
// checks that Close leaves no goroutine behind.
func TestRunnerRealProbes(t *testing.T) {
	leaktest.Check(t, 15*time.Second)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	changes := make(chan Result, 16)
	cfg := DefaultConfig()
	cfg.MaxSplay = time.Millisecond
	cfg.OnChange = func(r Result) { changes <- r }
	r := newRunner(t, cfg)
	// Only each check's first result counts: a long interval, and a timeout
	// a loaded machine under -race cannot miss (an exec forks a big process).
	checks := []Check{
		{ID: "http", Type: HTTP, Target: srv.URL, Interval: time.Minute, Timeout: 20 * time.Second},
		{ID: "tcp", Type: TCP, Target: ln.Addr().String(), Interval: time.Minute, Timeout: 20 * time.Second},
		{ID: "exec", Type: Exec, Args: []string{"/bin/true"}, Interval: time.Minute, Timeout: 20 * time.Second},
	}
	for _, c := range checks {
		if err := r.Add("inst", c); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.After(30 * time.Second)
	for passing := map[string]bool{}; len(passing) < len(checks); {
		select {
		case res := <-changes:
			if res.Status != Passing {
				t.Fatalf("%s went %s: %s", res.CheckID, res.Status, res.Output)
			}
			passing[res.CheckID] = true
		case <-deadline:
			t.Fatalf("checks not passing after 30s: %v", r.ByOwner("inst"))
		}
	}
	if got := Aggregate(r.ByOwner("inst")); got != Passing {
		t.Errorf("Aggregate = %s, want passing", got)
	}
	_ = r.Close()
	srv.Close()
	_ = ln.Close()
}

// newRunner is New for tests: an invalid cfg fails the test.
func newRunner(tb testing.TB, cfg Config) *Runner {
	tb.Helper()
	r, err := New(cfg)
	if err != nil {
		tb.Fatalf("probe.New: %v", err)
	}
	return r
}

func TestNewRejectsInvalidConfig(t *testing.T) {
	cfg := DefaultConfig()
	cfg.WatchdogGrace = 0
	if r, err := New(cfg); !errors.Is(err, ErrInvalidConfig) || r != nil {
		t.Errorf("New(watchdog_grace 0) = %v, %v; want nil, ErrInvalidConfig", r, err)
	}
}
