package agent_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/grapevine-sd/grapevine/agent"
	"github.com/grapevine-sd/grapevine/agent/agenttest"
	"github.com/grapevine-sd/grapevine/api"
)

// single starts one agent named node-a (tweaked by mods) and returns it, a
// client and its base URL.
func single(t *testing.T, mods ...func(*agent.Config)) (*agent.Agent, *api.Client, string) {
	t.Helper()
	cfg := agenttest.Config(t, "node-a")
	for _, m := range mods {
		m(&cfg)
	}
	a := agenttest.Start(t, cfg)
	return a, agenttest.Client(t, a), "http://" + a.HTTPAddr()
}

func ids(insts []api.Instance) []string {
	out := make([]string, 0, len(insts))
	for _, in := range insts {
		out = append(out, in.ID)
	}
	return out
}

func mustRegister(t *testing.T, c *api.Client, reg api.Registration) api.Instance {
	t.Helper()
	in, err := c.Register(t.Context(), reg)
	if err != nil {
		t.Fatalf("register %s: %v", reg.ID, err)
	}
	return in
}

// health polls the agent's view of one of its instances until it has want.
func waitHealth(t *testing.T, c *api.Client, node, id string, want api.Health, timeout time.Duration) api.Instance {
	t.Helper()
	var in api.Instance
	agenttest.Eventually(t, timeout, func() (bool, string) {
		var err error
		in, err = c.Instance(t.Context(), node, id)
		if err != nil {
			return false, err.Error()
		}
		return in.Health == want, fmt.Sprintf("%s health %s (output %q), want %s", id, in.Health, in.Output, want)
	})
	return in
}

func TestRegisterLookupDeregister(t *testing.T) {
	_, c, _ := single(t, func(cfg *agent.Config) { cfg.Zone = "eu-1" })
	ctx := t.Context()
	got := mustRegister(t, c, api.Registration{Name: "web", Address: "10.0.0.1", Port: 8080, Tags: []string{"v1"}, Meta: map[string]string{"k": "v"}})
	if got.ID != "web" || got.Service != "web" || got.Node != "node-a" || got.Zone != "eu-1" || got.Health != api.HealthPassing ||
		got.Port != 8080 || got.Address != "10.0.0.1" || got.Version.Epoch == 0 || got.Version.Seq == 0 {
		t.Errorf("register answered %+v", got)
	}
	insts, meta, err := c.Service(ctx, "web", api.QueryOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(insts) != 1 || insts[0].ID != "web" || insts[0].Stale || meta.Index == 0 {
		t.Fatalf("lookup: got %+v index %d", insts, meta.Index)
	}
	sums, err := c.Services(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if want := []api.ServiceSummary{{Name: "web", Instances: 1, Passing: 1}}; !slices.Equal(sums, want) {
		t.Errorf("services: got %+v, want %+v", sums, want)
	}
	// Re-registering replaces.
	mustRegister(t, c, api.Registration{Name: "web", Port: 9090})
	if in, err := c.Instance(ctx, "node-a", "web"); err != nil || in.Port != 9090 || len(in.Tags) != 0 {
		t.Errorf("after replace: %+v, %v", in, err)
	}
	if err := c.Deregister(ctx, "web"); err != nil {
		t.Fatal(err)
	}
	if insts, _, err := c.Service(ctx, "web", api.QueryOptions{}); err != nil || len(insts) != 0 {
		t.Errorf("lookup after deregister: %v, %v", ids(insts), err)
	}
	if err := c.Deregister(ctx, "web"); !errors.Is(err, api.ErrNotFound) {
		t.Errorf("second deregister: got %v, want not found", err)
	}
	if _, err := c.Instance(ctx, "node-a", "web"); !errors.Is(err, api.ErrNotFound) {
		t.Errorf("instance after deregister: got %v, want not found", err)
	}
	// A service never seen is an empty answer, not a 404.
	if insts, _, err := c.Service(ctx, "nothing", api.QueryOptions{}); err != nil || len(insts) != 0 {
		t.Errorf("unknown service: %v, %v", insts, err)
	}
}

func TestLookupFilters(t *testing.T) {
	_, c, _ := single(t, func(cfg *agent.Config) { cfg.Zone = "eu-1" })
	ttl := func(status string) json.RawMessage {
		return json.RawMessage(`{"type":"ttl","ttl":"1h","initial_status":"` + status + `"}`)
	}
	regs := []api.Registration{
		{ID: "w1", Name: "web", Tags: []string{"v1", "canary"}, Meta: map[string]string{"ver": "1"}},
		{ID: "w2", Name: "web", Tags: []string{"v1"}, Meta: map[string]string{"ver": "2"}, Zone: "us-1"},
		{ID: "w3", Name: "web", Tags: []string{"v2"}, Checks: []json.RawMessage{ttl("warning")}},
		{ID: "w4", Name: "web", Checks: []json.RawMessage{ttl("critical")}},
		{ID: "w5", Name: "web"},
		{ID: "d1", Name: "db"},
	}
	for _, r := range regs {
		mustRegister(t, c, r)
	}
	if err := c.Maintenance(t.Context(), "w5", true, "deploy"); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		opts api.QueryOptions
		want []string
	}{
		{"default is passing and warning", api.QueryOptions{}, []string{"w1", "w2", "w3"}},
		{"any", api.QueryOptions{Health: api.HealthAny}, []string{"w1", "w2", "w3", "w4", "w5"}},
		{"passing", api.QueryOptions{Health: api.HealthPassing}, []string{"w1", "w2"}},
		{"warning", api.QueryOptions{Health: api.HealthWarning}, []string{"w3"}},
		{"critical", api.QueryOptions{Health: api.HealthCritical}, []string{"w4"}},
		{"maintenance", api.QueryOptions{Health: api.HealthMaintenance}, []string{"w5"}},
		{"tag", api.QueryOptions{Tags: []string{"v1"}}, []string{"w1", "w2"}},
		{"two tags", api.QueryOptions{Tags: []string{"v1", "canary"}}, []string{"w1"}},
		{"meta", api.QueryOptions{Meta: map[string]string{"ver": "2"}}, []string{"w2"}},
		{"meta no match", api.QueryOptions{Meta: map[string]string{"ver": "3"}}, []string{}},
		{"zone", api.QueryOptions{Zone: "us-1"}, []string{"w2"}},
		{"agent zone", api.QueryOptions{Zone: "eu-1", Health: api.HealthAny}, []string{"w1", "w3", "w4", "w5"}},
		{"tag and health", api.QueryOptions{Tags: []string{"v2"}, Health: api.HealthPassing}, []string{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			insts, _, err := c.Service(t.Context(), "web", tt.opts)
			if err != nil {
				t.Fatal(err)
			}
			if got := ids(insts); !slices.Equal(got, tt.want) {
				t.Errorf("got %v, want %v", got, tt.want)
			}
			for _, in := range insts {
				if !tt.opts.Match(in) {
					t.Errorf("%s served but does not match %+v (api.QueryOptions.Match)", in.ID, tt.opts)
				}
			}
		})
	}
	in, err := c.Instance(t.Context(), "node-a", "w5")
	if err != nil || in.Health != api.HealthMaintenance || in.Output != "deploy" {
		t.Errorf("w5 in maintenance: %+v, %v", in, err)
	}
	sums, err := c.Services(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	want := []api.ServiceSummary{
		{Name: "db", Instances: 1, Passing: 1},
		{Name: "web", Instances: 5, Passing: 2, Warning: 1, Critical: 1, Maintenance: 1},
	}
	if !slices.Equal(sums, want) {
		t.Errorf("services: got %+v, want %+v", sums, want)
	}
}

// rawJSON lets AddCheck take a literal JSON object.
type rawJSON []byte

func (r rawJSON) MarshalJSON() ([]byte, error) { return r, nil }

func TestMaintenanceOnOff(t *testing.T) {
	_, c, _ := single(t)
	ctx := t.Context()
	mustRegister(t, c, api.Registration{Name: "web", Port: 80})
	if err := c.Maintenance(ctx, "web", true, "upgrade"); err != nil {
		t.Fatal(err)
	}
	if insts, _, _ := c.Service(ctx, "web", api.QueryOptions{}); len(insts) != 0 {
		t.Errorf("default lookup serves an instance in maintenance: %v", ids(insts))
	}
	if err := c.Maintenance(ctx, "web", false, ""); err != nil {
		t.Fatal(err)
	}
	in, err := c.Instance(ctx, "node-a", "web")
	if err != nil || in.Health != api.HealthPassing || in.Output != "" {
		t.Errorf("after maintenance off: %+v, %v", in, err)
	}
	if err := c.Maintenance(ctx, "nope", true, ""); !errors.Is(err, api.ErrNotFound) {
		t.Errorf("unknown id: got %v, want not found", err)
	}
}

func TestHTTPCheckFollowsBackend(t *testing.T) {
	t.Parallel()
	var status atomic.Int32
	status.Store(http.StatusOK)
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(int(status.Load()))
	}))
	t.Cleanup(backend.Close)
	_, c, _ := single(t)
	reg := api.Registration{ID: "web-1", Name: "web", Port: 8080}
	if err := reg.AddCheck(api.CheckDefinition{Type: "http", Target: backend.URL + "/health", Interval: "1s", Timeout: "500ms"}); err != nil {
		t.Fatal(err)
	}
	if in := mustRegister(t, c, reg); in.Health != api.HealthCritical {
		t.Errorf("before the first probe: health %s, want critical (the default initial status)", in.Health)
	}
	waitHealth(t, c, "node-a", "web-1", api.HealthPassing, 15*time.Second)
	status.Store(http.StatusServiceUnavailable)
	in := waitHealth(t, c, "node-a", "web-1", api.HealthCritical, 15*time.Second)
	if !strings.Contains(in.Output, "503") {
		t.Errorf("critical output %q does not name the status", in.Output)
	}
	if insts, _, _ := c.Service(t.Context(), "web", api.QueryOptions{}); len(insts) != 0 {
		t.Errorf("default lookup serves a critical instance: %v", ids(insts))
	}
	status.Store(http.StatusOK)
	waitHealth(t, c, "node-a", "web-1", api.HealthPassing, 15*time.Second)

	// Maintenance overrides the check; leaving it gives health back to it.
	if err := c.Maintenance(t.Context(), "web-1", true, "m"); err != nil {
		t.Fatal(err)
	}
	status.Store(http.StatusServiceUnavailable)
	waitHealth(t, c, "node-a", "web-1", api.HealthMaintenance, 15*time.Second)
	if err := c.Maintenance(t.Context(), "web-1", false, ""); err != nil {
		t.Fatal(err)
	}
	waitHealth(t, c, "node-a", "web-1", api.HealthCritical, 15*time.Second)
}

func TestHTTPCheckRiseFall(t *testing.T) {
	t.Parallel()
	var status, probes atomic.Int32
	status.Store(http.StatusOK)
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		probes.Add(1)
		w.WriteHeader(int(status.Load()))
	}))
	t.Cleanup(backend.Close)
	_, c, _ := single(t)
	reg := api.Registration{ID: "web-1", Name: "web"}
	if err := reg.AddCheck(rawJSON(`{"type":"http","target":"` + backend.URL + `","interval":"1s","timeout":"500ms","rise":2,"fall":2}`)); err != nil {
		t.Fatal(err)
	}
	mustRegister(t, c, reg)
	waitHealth(t, c, "node-a", "web-1", api.HealthPassing, 20*time.Second)
	if n := probes.Load(); n < 2 {
		t.Errorf("passing after %d probes, want rise 2", n)
	}
	status.Store(http.StatusServiceUnavailable)
	p0 := probes.Load()
	waitHealth(t, c, "node-a", "web-1", api.HealthCritical, 20*time.Second)
	if n := probes.Load() - p0; n < 2 {
		t.Errorf("critical after %d failed probes, want fall 2", n)
	}
}

func TestTTLCheck(t *testing.T) {
	t.Parallel()
	_, c, _ := single(t)
	ctx := t.Context()
	reg := api.Registration{ID: "job", Name: "worker"}
	// The TTL is the window in which each update's state can be seen before
	// it runs out: 5 s, so that a loaded machine's slow poll still sees it.
	if err := reg.AddCheck(api.CheckDefinition{ID: "job-ttl", Type: "ttl", TTL: "5s"}); err != nil {
		t.Fatal(err)
	}
	if err := reg.AddCheck(api.CheckDefinition{Type: "tcp", Target: "127.0.0.1:1", Interval: "1h"}); err != nil {
		t.Fatal(err)
	}
	mustRegister(t, c, reg)
	// The second check got the default id <instance>:<n> and is not a TTL check.
	if err := c.UpdateTTL(ctx, "job:2", api.TTLUpdate{Status: api.HealthPassing}); !isStatus(err, http.StatusBadRequest) {
		t.Errorf("TTL update of a tcp check: got %v, want 400", err)
	}
	if err := c.UpdateTTL(ctx, "nope", api.TTLUpdate{Status: api.HealthPassing}); !errors.Is(err, api.ErrNotFound) {
		t.Errorf("unknown check: got %v, want not found", err)
	}

	// Only the TTL check now: its updates drive health.
	reg.Checks = reg.Checks[:1]
	mustRegister(t, c, reg)
	if err := c.UpdateTTL(ctx, "job-ttl", api.TTLUpdate{Status: api.HealthWarning, Output: "slow"}); err != nil {
		t.Fatal(err)
	}
	in := waitHealth(t, c, "node-a", "job", api.HealthWarning, 5*time.Second)
	if in.Output != "slow" {
		t.Errorf("output %q, want slow", in.Output)
	}
	if err := c.UpdateTTL(ctx, "job-ttl", api.TTLUpdate{Status: api.HealthPassing, Output: "ok"}); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	waitHealth(t, c, "node-a", "job", api.HealthPassing, 15*time.Second)
	waitHealth(t, c, "node-a", "job", api.HealthCritical, 20*time.Second) // no update: the TTL runs out
	if d := time.Since(start); d < 4900*time.Millisecond {
		t.Errorf("critical after %v, before the 5s TTL ran out", d)
	}
}

func isStatus(err error, code int) bool {
	var se *api.StatusError
	return errors.As(err, &se) && se.Code == code
}

func TestHTTPErrors(t *testing.T) {
	_, c, base := single(t)
	mustRegister(t, c, api.Registration{Name: "web"})
	big := `{"name":"web","meta":{"k":"` + strings.Repeat("x", api.MaxRequestBytes) + `"}}`
	tests := []struct {
		name, method, path, body string
		code                     int
		errHas                   string
	}{
		{"bad json", "PUT", "/v1/agent/services", `{"name":`, 400, ""},
		{"empty body", "PUT", "/v1/agent/services", ``, 400, "empty"},
		{"unknown field", "PUT", "/v1/agent/services", `{"name":"web","helth":"x"}`, 400, `unknown field "helth"`},
		{"two objects", "PUT", "/v1/agent/services", `{"name":"web"}{"name":"db"}`, 400, ""},
		{"no name", "PUT", "/v1/agent/services", `{"port":1}`, 400, "name"},
		{"invalid name", "PUT", "/v1/agent/services", `{"name":"Web_Server"}`, 400, "service name"},
		{"bad port", "PUT", "/v1/agent/services", `{"name":"web","port":70000}`, 400, "port"},
		{"check not object", "PUT", "/v1/agent/services", `{"name":"web","checks":[1]}`, 400, "check"},
		{"bad check type", "PUT", "/v1/agent/services", `{"name":"web","checks":[{"type":"carrier-pigeon"}]}`, 400, "check 1"},
		{"check interval too short", "PUT", "/v1/agent/services", `{"name":"web","checks":[{"type":"tcp","target":"127.0.0.1:1","interval":"1ms"}]}`, 400, "interval"},
		{"duplicate check id", "PUT", "/v1/agent/services", `{"name":"web","checks":[{"id":"x","type":"ttl","ttl":"5s"},{"id":"x","type":"ttl","ttl":"5s"}]}`, 400, "twice"},
		{"too large", "PUT", "/v1/agent/services", big, 413, ""},
		{"ttl bad status", "PUT", "/v1/agent/checks/web:1/ttl", `{"status":"maintenance"}`, 400, "status"},
		{"ttl unknown check", "PUT", "/v1/agent/checks/nope/ttl", `{"status":"passing"}`, 404, ""},
		{"deregister unknown", "DELETE", "/v1/agent/services/nope", "", 404, ""},
		{"maintenance without enable", "PUT", "/v1/agent/services/web/maintenance", "", 400, "enable"},
		{"maintenance unknown param", "PUT", "/v1/agent/services/web/maintenance?enable=true&x=1", "", 400, `"x"`},
		{"maintenance unknown id", "PUT", "/v1/agent/services/nope/maintenance?enable=true", "", 404, ""},
		{"instance unknown", "GET", "/v1/instances/node-a/nope", "", 404, ""},
		{"lookup unknown param", "GET", "/v1/services/web?colour=red", "", 400, "colour"},
		{"lookup bad health", "GET", "/v1/services/web?health=sick", "", 400, "health"},
		{"lookup meta without colon", "GET", "/v1/services/web?meta=k", "", 400, "meta"},
		{"lookup bad index", "GET", "/v1/services/web?index=-1", "", 400, "index"},
		{"lookup bad wait", "GET", "/v1/services/web?index=1&wait=soon", "", 400, "wait"},
		{"lookup repeated zone", "GET", "/v1/services/web?zone=a&zone=b", "", 400, "zone"},
		{"stream empty service", "GET", "/v1/stream?service=", "", 400, "service"},
		{"stream bad index", "GET", "/v1/stream?service=web&index=x", "", 400, "index"},
		{"unknown path", "GET", "/v2/nothing", "", 404, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := rawString(t, tt.method, base+tt.path, tt.body)
			if r.code != tt.code {
				t.Fatalf("status %d, want %d (body %s)", r.code, tt.code, r.body)
			}
			checkErrorBody(t, r, tt.errHas)
		})
	}
	// Nothing of the refused registrations changed the catalog.
	insts, _, err := c.Service(t.Context(), "web", api.QueryOptions{Health: api.HealthAny})
	if err != nil || len(insts) != 1 || insts[0].Port != 0 || len(insts[0].Meta) != 0 {
		t.Errorf("after bad requests: %+v, %v", insts, err)
	}
}

// checkErrorBody checks an error response is {"error": "..."} containing has.
func checkErrorBody(t *testing.T, r rawResponse, has string) {
	t.Helper()
	if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("content type %q, want JSON", ct)
	}
	var e api.Error
	if err := jsonUnmarshal(r.body, &e); err != nil || e.Error == "" {
		t.Fatalf("body %q is not {\"error\": ...}: %v", r.body, err)
	}
	if !strings.Contains(e.Error, has) {
		t.Errorf("error %q does not contain %q", e.Error, has)
	}
}

func TestMethodNotAllowed(t *testing.T) {
	_, _, base := single(t)
	tests := []struct{ method, path, allow string }{
		{"POST", "/v1/agent/services", "PUT"},
		{"GET", "/v1/agent/services/web", "DELETE"},
		{"DELETE", "/v1/services/web", "GET"},
		{"PUT", "/v1/agent/self", "GET"},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			r := rawString(t, tt.method, base+tt.path, "")
			if r.code != http.StatusMethodNotAllowed {
				t.Fatalf("status %d, want 405 (body %s)", r.code, r.body)
			}
			if allow := r.header.Get("Allow"); !strings.Contains(allow, tt.allow) {
				t.Errorf("Allow %q, want it to list %s", allow, tt.allow)
			}
			checkErrorBody(t, r, "method not allowed")
		})
	}
}

func TestBlockingQuery(t *testing.T) {
	_, c, _ := single(t)
	ctx := t.Context()
	mustRegister(t, c, api.Registration{ID: "w1", Name: "web"})
	_, meta, err := c.Service(ctx, "web", api.QueryOptions{})
	if err != nil {
		t.Fatal(err)
	}

	// No change: answers after wait with the same index.
	start := time.Now()
	insts, m2, err := c.Service(ctx, "web", api.QueryOptions{Index: meta.Index, Wait: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d < 300*time.Millisecond {
		t.Errorf("returned after %v, before the wait", d)
	}
	if m2.Index != meta.Index || !slices.Equal(ids(insts), []string{"w1"}) {
		t.Errorf("after wait: index %d (want %d), %v", m2.Index, meta.Index, ids(insts))
	}

	// A change: answers at once with a higher index.
	type answer struct {
		insts []api.Instance
		meta  api.QueryMeta
		err   error
		took  time.Duration
	}
	done := make(chan answer, 1)
	go func() {
		start := time.Now()
		insts, m, err := c.Service(ctx, "web", api.QueryOptions{Index: meta.Index, Wait: 30 * time.Second})
		done <- answer{insts, m, err, time.Since(start)}
	}()
	// Another service's change does not wake it.
	mustRegister(t, c, api.Registration{Name: "db"})
	select {
	case a := <-done:
		t.Fatalf("woke for another service's change: %+v", a)
	case <-time.After(100 * time.Millisecond): // bounded negative check, not a wait for a condition
	}
	mustRegister(t, c, api.Registration{ID: "w2", Name: "web"})
	a := <-done
	if a.err != nil {
		t.Fatal(a.err)
	}
	if a.meta.Index <= meta.Index || !slices.Equal(ids(a.insts), []string{"w1", "w2"}) || a.took > 15*time.Second {
		t.Errorf("blocking answer: index %d (was %d), %v after %v", a.meta.Index, meta.Index, ids(a.insts), a.took)
	}

	// An index the agent never issued answers at once.
	start = time.Now()
	if _, _, err := c.Service(ctx, "web", api.QueryOptions{Index: 1 << 60, Wait: 30 * time.Second}); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 15*time.Second {
		t.Errorf("future index blocked %v", d)
	}
}

// A service not seen yet answers with a nonzero index, and a blocking query
// on it waits until the service appears (found by render: index 0 made a
// watcher of a future service poll without blocking).
func TestBlockingQueryOnUnknownService(t *testing.T) {
	_, c, _ := single(t)
	ctx := t.Context()
	insts, meta, err := c.Service(ctx, "later", api.QueryOptions{})
	if err != nil || len(insts) != 0 || meta.Index == 0 {
		t.Fatalf("unknown service: %v, index %d, %v; want empty with a nonzero index", insts, meta.Index, err)
	}
	start := time.Now()
	if _, m, err := c.Service(ctx, "later", api.QueryOptions{Index: meta.Index, Wait: 300 * time.Millisecond}); err != nil || m.Index != meta.Index {
		t.Fatalf("wait: index %d (want %d), %v", m.Index, meta.Index, err)
	}
	if d := time.Since(start); d < 300*time.Millisecond {
		t.Errorf("returned after %v, before the wait", d)
	}
	type answer struct {
		insts []api.Instance
		meta  api.QueryMeta
		err   error
	}
	done := make(chan answer, 1)
	go func() {
		insts, m, err := c.Service(ctx, "later", api.QueryOptions{Index: meta.Index, Wait: 30 * time.Second})
		done <- answer{insts, m, err}
	}()
	mustRegister(t, c, api.Registration{ID: "l1", Name: "later"})
	select {
	case a := <-done:
		if a.err != nil || a.meta.Index <= meta.Index || !slices.Equal(ids(a.insts), []string{"l1"}) {
			t.Errorf("blocking answer: %v, index %d (was %d), %v", ids(a.insts), a.meta.Index, meta.Index, a.err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the blocking query did not wake when the service appeared")
	}
}

func TestBlockingQueryEndsOnClose(t *testing.T) {
	a, c, _ := single(t)
	mustRegister(t, c, api.Registration{Name: "web"})
	_, meta, err := c.Service(t.Context(), "web", api.QueryOptions{})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		_, _, err := c.Service(t.Context(), "web", api.QueryOptions{Index: meta.Index, Wait: time.Minute})
		done <- err
	}()
	agenttest.Eventually(t, 15*time.Second, func() (bool, string) {
		return goroutinesIn("catalog.(*Catalog).Wait") > 0, "blocking query not in flight"
	})
	start := time.Now()
	a.Close()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("blocking query still open 30s after Close")
	}
	if d := time.Since(start); d > 20*time.Second { // its wait is a minute
		t.Errorf("Close took %v with a blocking query open", d)
	}
}

func TestStream(t *testing.T) {
	_, c, _ := single(t)
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	mustRegister(t, c, api.Registration{ID: "w1", Name: "web"})

	var last uint64
	sctx, stop := context.WithCancel(ctx)
	ch := events(sctx, c.Stream(sctx, "web", 0))
	ev := mustNext(t, ch)
	if ev.Type != api.EventReset || !slices.Equal(ids(ev.Instances), []string{"w1"}) || ev.Index == 0 {
		t.Fatalf("first event: %+v, want a reset with w1", ev)
	}
	last = ev.Index
	mustRegister(t, c, api.Registration{ID: "w2", Name: "web"})
	ev = mustNext(t, ch)
	if ev.Type != api.EventUpsert || ev.Instance == nil || ev.Instance.ID != "w2" || ev.Index <= last {
		t.Fatalf("after register: %+v, want an upsert of w2", ev)
	}
	last = ev.Index
	if err := c.Deregister(ctx, "w1"); err != nil {
		t.Fatal(err)
	}
	ev = mustNext(t, ch)
	if ev.Type != api.EventDelete || ev.Instance == nil || ev.Instance.ID != "w1" || ev.Index <= last {
		t.Fatalf("after deregister: %+v, want a delete of w1", ev)
	}
	last = ev.Index
	stop()
	waitStreams(t, 0)

	// Resume from the last index seen: nothing old is repeated, the next
	// change comes as an upsert.
	sctx, stop = context.WithCancel(ctx)
	ch = events(sctx, c.Stream(sctx, "web", last))
	waitStreams(t, 1)
	mustRegister(t, c, api.Registration{ID: "w3", Name: "web"})
	ev = mustNext(t, ch)
	if ev.Type != api.EventUpsert || ev.Instance == nil || ev.Instance.ID != "w3" {
		t.Fatalf("resumed stream: %+v, want an upsert of w3", ev)
	}
	last = ev.Index
	stop()
	waitStreams(t, 0)

	// Resume from an old index after changes were missed: a reset with the
	// current set.
	mustRegister(t, c, api.Registration{ID: "w4", Name: "web"})
	sctx, stop = context.WithCancel(ctx)
	defer stop()
	ch = events(sctx, c.Stream(sctx, "web", last))
	ev = mustNext(t, ch)
	if ev.Type != api.EventReset || !slices.Equal(ids(ev.Instances), []string{"w2", "w3", "w4"}) {
		t.Fatalf("stream resumed after missed changes: %+v, want a reset with w2 w3 w4", ev)
	}
}

func TestStreamEndsOnClose(t *testing.T) {
	a, c, _ := single(t)
	ch := events(t.Context(), c.Stream(t.Context(), "web", 0))
	if ev := mustNext(t, ch); ev.Type != api.EventReset || len(ev.Instances) != 0 {
		t.Fatalf("first event %+v, want an empty reset", ev)
	}
	a.Close()
	select {
	case it := <-ch:
		if !errors.Is(it.err, api.ErrStreamEnded) {
			t.Errorf("stream ended with %+v, want ErrStreamEnded", it)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("stream still open 10s after Close")
	}
}

func TestSelf(t *testing.T) {
	a, c, _ := single(t, func(cfg *agent.Config) { cfg.Zone = "z1" })
	mustRegister(t, c, api.Registration{Name: "web"})
	mustRegister(t, c, api.Registration{Name: "db"})
	s, err := c.Self(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if s.Node != "node-a" || s.Zone != "z1" || s.Version != agent.Version || s.Protocol != agent.ProtocolVersion || s.Epoch == 0 || s.Epoch != a.Catalog().Epoch() {
		t.Errorf("self: %+v", s)
	}
	if s.Catalog.Instances != 2 || s.Catalog.Services != 2 || s.Catalog.Origins != 1 || len(s.Catalog.Hash) != 16 {
		t.Errorf("self catalog: %+v", s.Catalog)
	}
	if d, ok := s.Digest["node-a"]; !ok || d.Epoch != s.Epoch || d.Applied == 0 {
		t.Errorf("self digest: %+v", s.Digest)
	}
	if s.Members != (api.MemberCounts{Alive: 1}) || s.Preservation.Active {
		t.Errorf("self members %+v preservation %+v", s.Members, s.Preservation)
	}
	ms, err := c.Members(t.Context())
	if err != nil || len(ms) != 1 || ms[0].Name != "node-a" || ms[0].Status != api.MemberAlive || ms[0].Zone != "z1" || ms[0].Meta["http"] == "" {
		t.Errorf("members: %+v, %v", ms, err)
	}
}

func TestMetricsAndUI(t *testing.T) {
	_, c, base := single(t)
	mustRegister(t, c, api.Registration{ID: "web-ui-1", Name: "web"})
	if _, _, err := c.Service(t.Context(), "web", api.QueryOptions{}); err != nil {
		t.Fatal(err)
	}
	r := rawString(t, "GET", base+"/metrics", "")
	if r.code != 200 {
		t.Fatalf("/metrics: %d", r.code)
	}
	for _, want := range []string{
		"grapevine_catalog_instances 1",
		"grapevine_catalog_local_instances 1",
		`grapevine_members{state="alive"} 1`,
		`grapevine_http_requests_total{code="200",route="GET /v1/services/{name}"} 1`,
		"grapevine_gossip_events_total",
		"grapevine_gossip_probe_rtt_seconds_bucket",
		"grapevine_gossip_health_score 0",
		`grapevine_gossip_udp_packets_total{direction="sent"}`,
		`grapevine_gossip_tcp_streams_total{direction="accepted"}`,
		"grapevine_cluster_agreement_ratio 1",
		`grapevine_cluster_fingerprint_updates_total{event="broadcast"}`,
		`grapevine_gossip_rejected_total{reason="decrypt"} 0`,
		`grapevine_gossip_rejected_total{reason="rate_limited"} 0`,
	} {
		if !strings.Contains(r.body, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	if !strings.Contains(r.body, `grapevine_members{state="suspect"} 0`) {
		t.Error("/metrics lacks the suspect members series")
	}
	r = rawString(t, "GET", base+"/ui", "")
	if r.code != 200 || !strings.HasPrefix(r.header.Get("Content-Type"), "text/html") {
		t.Fatalf("/ui: %d %s", r.code, r.header.Get("Content-Type"))
	}
	if !strings.Contains(r.body, `<script src="/ui/app.js">`) || !strings.Contains(r.header.Get("Content-Security-Policy"), "script-src 'self'") {
		t.Errorf("/ui: page without its script or CSP: %s", r.header.Get("Content-Security-Policy"))
	}
	for path, ctype := range map[string]string{"/ui/": "text/html", "/ui/app.js": "text/javascript", "/ui/app.css": "text/css"} {
		if r := rawString(t, "GET", base+path, ""); r.code != 200 || !strings.HasPrefix(r.header.Get("Content-Type"), ctype) {
			t.Errorf("%s: %d %s", path, r.code, r.header.Get("Content-Type"))
		}
	}
	for _, path := range []string{"/ui/nope.js", "/ui/%2e%2e/ui.go", "/ui/ui.go", "/ui/app.js/x"} {
		if r := rawString(t, "GET", base+path, ""); r.code != 404 {
			t.Errorf("%s: %d, want 404", path, r.code)
		}
	}
	if r := rawString(t, "GET", base+"/", ""); r.code != http.StatusFound || r.header.Get("Location") != "/ui" {
		t.Errorf("/: %d Location %q, want a redirect to /ui", r.code, r.header.Get("Location"))
	}
}
