package agent_test

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/grapevine-sd/grapevine/agent"
	"github.com/grapevine-sd/grapevine/agent/agenttest"
	"github.com/grapevine-sd/grapevine/api"
	"github.com/grapevine-sd/grapevine/catalog"
)

func TestPersistenceAcrossRestart(t *testing.T) {
	cfg := agenttest.Config(t, "node-a")
	a := agenttest.Start(t, cfg)
	c := agenttest.Client(t, a)
	reg := api.Registration{ID: "job", Name: "worker", Port: 7, Tags: []string{"t"}}
	if err := reg.AddCheck(api.CheckDefinition{ID: "job-ttl", Type: "ttl", TTL: "1h"}); err != nil {
		t.Fatal(err)
	}
	mustRegister(t, c, reg)
	mustRegister(t, c, api.Registration{Name: "gone"})
	if err := c.Deregister(t.Context(), "gone"); err != nil {
		t.Fatal(err)
	}
	if err := c.UpdateTTL(t.Context(), "job-ttl", api.TTLUpdate{Status: api.HealthPassing}); err != nil {
		t.Fatal(err)
	}
	epoch := a.Catalog().Epoch()
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}

	b := agenttest.Start(t, cfg) // same data directory
	c = agenttest.Client(t, b)
	if e := b.Catalog().Epoch(); e <= epoch {
		t.Errorf("epoch after restart %d, want > %d", e, epoch)
	}
	in, err := c.Instance(t.Context(), "node-a", "job")
	if err != nil {
		t.Fatalf("instance after restart: %v", err)
	}
	if in.Port != 7 || !slices.Equal(in.Tags, []string{"t"}) || in.Version.Epoch != b.Catalog().Epoch() {
		t.Errorf("restored instance %+v", in)
	}
	if _, err := c.Instance(t.Context(), "node-a", "gone"); !errors.Is(err, api.ErrNotFound) {
		t.Errorf("deregistered instance after restart: %v, want not found", err)
	}
	// The check came back too: it accepts TTL updates and drives health.
	if err := c.UpdateTTL(t.Context(), "job-ttl", api.TTLUpdate{Status: api.HealthWarning, Output: "back"}); err != nil {
		t.Fatalf("TTL update after restart: %v", err)
	}
	waitHealth(t, c, "node-a", "job", api.HealthWarning, 15*time.Second)
}

func TestRestartWithoutDataDirForgets(t *testing.T) {
	cfg := agenttest.Config(t, "node-a")
	cfg.DataDir = ""
	a := agenttest.Start(t, cfg)
	mustRegister(t, agenttest.Client(t, a), api.Registration{Name: "web"})
	a.Close()
	b := agenttest.Start(t, cfg)
	if res := b.Catalog().Service("web", catalog.Filter{Health: catalog.HealthAny}); len(res.Entries) != 0 {
		t.Errorf("without a data dir a restart kept %d instances", len(res.Entries))
	}
}

func writeFile(t *testing.T, dir, name, body string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
}

// localIDs lists the agent's registrations as "source:id", sorted.
func localIDs(a *agent.Agent) []string {
	var out []string
	for _, r := range a.Catalog().Registrations() {
		out = append(out, r.Source.String()+":"+r.Instance.ID)
	}
	slices.Sort(out)
	return out
}

func TestServiceDefinitionFiles(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "web.json", `{"id":"web-1","name":"web","port":8080,"tags":["v1"],
		"checks":[{"id":"web-ttl","type":"ttl","ttl":"1h","initial_status":"passing"}]}`)
	writeFile(t, dir, "db.yaml", "# two services in one file\n- name: db\n  port: 5432\n  meta: {role: primary}\n- id: db-replica\n  name: db\n  port: 5433\n")
	writeFile(t, dir, "README.txt", "not a definition")
	cfg := agenttest.Config(t, "node-a")
	cfg.ConfigDir = dir
	a := agenttest.Start(t, cfg)
	c := agenttest.Client(t, a)

	want := []string{"file:db", "file:db-replica", "file:web-1"}
	if got := localIDs(a); !slices.Equal(got, want) {
		t.Fatalf("after start: %v, want %v", got, want)
	}
	if in, err := c.Instance(t.Context(), "node-a", "db"); err != nil || in.Port != 5432 || in.Meta["role"] != "primary" {
		t.Errorf("db from YAML: %+v, %v", in, err)
	}
	if err := c.UpdateTTL(t.Context(), "web-ttl", api.TTLUpdate{Status: api.HealthWarning}); err != nil {
		t.Errorf("check of a file definition: %v", err)
	}
	waitHealth(t, c, "node-a", "web-1", api.HealthWarning, 15*time.Second)
	// An API registration lives beside the files and survives reloads.
	mustRegister(t, c, api.Registration{Name: "api-only"})

	// Edit: drop db.yaml, add cache.yml, change web.json (no check any more).
	os.Remove(filepath.Join(dir, "db.yaml"))
	writeFile(t, dir, "cache.yml", "name: cache\nport: 6379\n")
	writeFile(t, dir, "web.json", `{"id":"web-1","name":"web","port":9090}`)
	if err := a.Reload(); err != nil {
		t.Fatal(err)
	}
	want = []string{"api:api-only", "file:cache", "file:web-1"}
	if got := localIDs(a); !slices.Equal(got, want) {
		t.Fatalf("after reload: %v, want %v", got, want)
	}
	if in, _ := c.Instance(t.Context(), "node-a", "web-1"); in.Port != 9090 || in.Health != api.HealthPassing {
		t.Errorf("web-1 after reload: %+v", in)
	}
	if err := c.UpdateTTL(t.Context(), "web-ttl", api.TTLUpdate{Status: api.HealthPassing}); !errors.Is(err, api.ErrNotFound) {
		t.Errorf("check removed from the file still answers: %v", err)
	}

	// Invalid files: Reload names the file; the other files apply, and the
	// invalid one keeps what it defined before.
	bad := []struct{ name, body string }{
		{"bad.json", `{"name":"x",`},
		{"bad.yaml", "name: web\nhelth: passing\n"},
		{"bad.json", `{"name":"Not_Valid"}`},
		{"bad.json", `{"name":"x","checks":[{"type":"ttl"}]}`},
		{"bad.json", `{"id":"cache","name":"cache2"}`},         // same id as cache.yml, which keeps it
		{"web.json", `{"id":"web-1","name":"web","port":"x"}`}, // web-1 keeps port 9090
	}
	for _, b := range bad {
		writeFile(t, dir, "cache.yml", "name: cache\nport: 6379\n")
		writeFile(t, dir, "new.json", `{"name":"new"}`)
		writeFile(t, dir, b.name, b.body)
		err := a.Reload()
		if err == nil {
			t.Errorf("%s %q: Reload succeeded", b.name, b.body)
		} else if !errors.Is(err, agent.ErrInvalidRegistration) || !strings.Contains(err.Error(), b.name) {
			t.Errorf("%s %q: error %v does not say which file", b.name, b.body, err)
		}
		wantNow := []string{"api:api-only", "file:cache", "file:new", "file:web-1"}
		if got := localIDs(a); !slices.Equal(got, wantNow) {
			t.Errorf("%s: after reload: %v, want %v", b.name, got, wantNow)
		}
		if in, _ := c.Instance(t.Context(), "node-a", "web-1"); in.Port != 9090 {
			t.Errorf("%s: web-1 port %d, want 9090 kept", b.name, in.Port)
		}
		if in, _ := c.Instance(t.Context(), "node-a", "cache"); in.Service != "cache" {
			t.Errorf("%s: cache is now %+v", b.name, in)
		}
		if b.name == "web.json" {
			writeFile(t, dir, "web.json", `{"id":"web-1","name":"web","port":9090}`)
		} else {
			os.Remove(filepath.Join(dir, b.name))
		}
		os.Remove(filepath.Join(dir, "new.json"))
	}
	// Once fixed, it loads.
	if err := a.Reload(); err != nil {
		t.Fatal(err)
	}
	if got := localIDs(a); !slices.Equal(got, want) {
		t.Errorf("after the last reload: %v, want %v", got, want)
	}
}

// TestBadDefinitionFileAtStartup: one file that does not parse (or cannot be
// read) withholds only its own services.
func TestBadDefinitionFileAtStartup(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "a-bad.json", `{"name":"broken",`)
	writeFile(t, dir, "b-web.json", `{"name":"web","port":80}`)
	writeFile(t, dir, "c-db.yaml", "name: db\nport: 5432\n")
	if err := os.Mkdir(filepath.Join(dir, "d-dir.json"), 0o755); err != nil { // not a file: skipped
		t.Fatal(err)
	}
	if err := os.Symlink("/nonexistent/grapevine", filepath.Join(dir, "e-gone.json")); err != nil { // cannot be read
		t.Fatal(err)
	}
	cfg := agenttest.Config(t, "node-a")
	cfg.ConfigDir = dir
	a := agenttest.Start(t, cfg)
	want := []string{"file:db", "file:web"}
	if got := localIDs(a); !slices.Equal(got, want) {
		t.Fatalf("after start: %v, want %v", got, want)
	}
	err := a.Reload()
	if err == nil || !strings.Contains(err.Error(), "a-bad.json") || !strings.Contains(err.Error(), "e-gone.json") ||
		strings.Contains(err.Error(), "b-web.json") || strings.Contains(err.Error(), "d-dir.json") {
		t.Errorf("reload error %v: want one naming a-bad.json and e-gone.json only", err)
	}
	if got := localIDs(a); !slices.Equal(got, want) {
		t.Fatalf("after reload: %v, want %v", got, want)
	}
}

// TestUnreadableChecksFileStopsStart: checks.json that cannot be read (here
// a directory in its place) stops New, and the data directory is unchanged.
func TestUnreadableChecksFileStopsStart(t *testing.T) {
	cfg := agenttest.Config(t, "node-a")
	if err := os.Mkdir(filepath.Join(cfg.DataDir, "checks.json"), 0o700); err != nil {
		t.Fatal(err)
	}
	a, err := agent.New(cfg)
	if err == nil {
		a.Close()
		t.Fatal("New started with an unreadable checks.json")
	}
	if !strings.Contains(err.Error(), "cannot read") {
		t.Errorf("error %v: want 'cannot read'", err)
	}
	entries, _ := os.ReadDir(cfg.DataDir)
	if len(entries) != 1 {
		t.Errorf("data dir holds %d entries, want only checks.json: nothing written", len(entries))
	}
}

// TestRegistrationHealthPath: a registration reaches the catalog with the
// health its checks give it (one probe.Set, whose commit registers), a check
// id of another instance is refused with nothing changed, and later check
// transitions reach the catalog through the prober's one callback.
func TestRegistrationHealthPath(t *testing.T) {
	a := agenttest.Start(t, agenttest.Config(t, "node-a"))
	c := agenttest.Client(t, a)
	reg := api.Registration{ID: "one", Name: "svc"}
	if err := reg.AddCheck(map[string]string{"id": "beat", "type": "ttl", "ttl": "1h", "initial_status": "warning"}); err != nil {
		t.Fatal(err)
	}
	if in := mustRegister(t, c, reg); in.Health != api.HealthWarning {
		t.Errorf("registered with health %s, want warning (the check's initial status)", in.Health)
	}
	other := api.Registration{ID: "two", Name: "svc"}
	if err := other.AddCheck(api.CheckDefinition{ID: "beat", Type: "ttl", TTL: "1h"}); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Register(other); !errors.Is(err, agent.ErrInvalidRegistration) {
		t.Errorf("a check id of another instance: %v, want ErrInvalidRegistration", err)
	}
	if _, err := c.Instance(t.Context(), "node-a", "two"); !errors.Is(err, api.ErrNotFound) {
		t.Errorf("refused registration is in the catalog: %v", err)
	}
	if err := c.UpdateTTL(t.Context(), "beat", api.TTLUpdate{Status: api.HealthCritical, Output: "down"}); err != nil {
		t.Fatal(err)
	}
	in := waitHealth(t, c, "node-a", "one", api.HealthCritical, 15*time.Second)
	if in.Output != "down" {
		t.Errorf("output %q, want the check's", in.Output)
	}
	// Re-registering unchanged keeps the running check's state.
	if in := mustRegister(t, c, reg); in.Health != api.HealthCritical {
		t.Errorf("re-registered with health %s, want critical (the running check's)", in.Health)
	}
}

// TestChecksFileSetAsideOnlyWhenTheStartGoesOn: a malformed checks.json is
// set aside, but not when another data file stops the start.
func TestChecksFileSetAsideOnlyWhenTheStartGoesOn(t *testing.T) {
	cfg := agenttest.Config(t, "node-a")
	writeFile(t, cfg.DataDir, "checks.json", "{not json")
	if err := os.Mkdir(filepath.Join(cfg.DataDir, "registrations.json"), 0o700); err != nil {
		t.Fatal(err)
	}
	if a, err := agent.New(cfg); err == nil {
		a.Close()
		t.Fatal("New started with an unreadable registrations.json")
	}
	if b, err := os.ReadFile(filepath.Join(cfg.DataDir, "checks.json")); err != nil || string(b) != "{not json" {
		t.Fatalf("checks.json touched by a refused start: %q %v", b, err)
	}
	os.Remove(filepath.Join(cfg.DataDir, "registrations.json"))
	a, err := agent.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	aside, _ := filepath.Glob(filepath.Join(cfg.DataDir, "checks.json.corrupt-*"))
	if len(aside) != 1 {
		t.Errorf("set aside: %v", aside)
	}
}
