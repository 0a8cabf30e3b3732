package agent_test

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/grapevine-sd/grapevine/agent"
	"github.com/grapevine-sd/grapevine/agent/agenttest"
)

// finishes runs f and fails the test if it has not returned within d: a
// FIFO or a device at a file's path must never hang the agent.
func finishes(t *testing.T, d time.Duration, what string, f func()) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		defer close(done)
		f()
	}()
	select {
	case <-done:
	case <-time.After(d):
		t.Fatalf("%s blocked for %v", what, d)
	}
}

// TestDataDirFileNotRegularRefused: a data directory file that is a FIFO
// (no writer) or a directory stops agent.New with an error naming it, at
// once: it neither hangs the start nor is renamed aside.
func TestDataDirFileNotRegularRefused(t *testing.T) {
	for _, file := range []string{"registrations.json", "checks.json", "epoch.json"} {
		for _, kind := range []string{"fifo", "directory"} {
			t.Run(file+"/"+kind, func(t *testing.T) {
				dir := t.TempDir()
				path := filepath.Join(dir, file)
				var err error
				if kind == "fifo" {
					err = syscall.Mkfifo(path, 0o600)
				} else {
					err = os.Mkdir(path, 0o700)
				}
				if err != nil {
					t.Skipf("cannot make a %s: %v", kind, err)
				}
				cfg := agenttest.Config(t, "node-a")
				cfg.DataDir = dir
				var a *agent.Agent
				finishes(t, 10*time.Second, "agent.New", func() { a, err = agent.New(cfg) })
				if err == nil {
					a.Close()
					t.Fatalf("agent.New started with %s a %s", file, kind)
				}
				if !strings.Contains(err.Error(), "not a regular file") || !strings.Contains(err.Error(), file) {
					t.Fatalf("error %v: want one naming %s, not a regular file", err, file)
				}
				if fi, serr := os.Lstat(path); serr != nil || fi.Mode().IsRegular() {
					t.Fatalf("%s was moved or replaced: %v", file, serr)
				}
			})
		}
	}
}

// TestConfigFileNotRegularRefused: -config naming a device that never ends
// (/dev/zero), a FIFO without a writer or a directory is a config error at
// once, without reading it whole into memory.
func TestConfigFileNotRegularRefused(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "agent.yaml")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Skipf("no FIFOs: %v", err)
	}
	for _, path := range []string{"/dev/zero", fifo, dir} {
		if _, err := os.Stat(path); err != nil {
			continue
		}
		cfg := agent.DefaultConfig()
		var err error
		finishes(t, 10*time.Second, "LoadFile("+path+")", func() { err = cfg.LoadFile(path) })
		if !errors.Is(err, agent.ErrConfig) || !strings.Contains(err.Error(), "regular") {
			t.Errorf("LoadFile(%s) = %v, want a config error saying it is not a regular file", path, err)
		}
	}
}

// TestMalformedQueryRefused: a query string that does not decode is a 400 on
// every route, not a lookup that silently dropped the undecodable filter.
func TestMalformedQueryRefused(t *testing.T) {
	a := agenttest.Start(t, agenttest.Config(t, "node-a"))
	base := "http://" + a.HTTPAddr()
	for _, path := range []string{
		"/v1/services/web?%zz",
		"/v1/services/web?tag=a&%zz&health=any",
		"/v1/services/web?tag=a%",
		"/v1/services?x=%G0",
		"/v1/members?a;b",
	} {
		resp, err := http.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(body), "malformed query") {
			t.Errorf("GET %s: %d %s, want 400 malformed query", path, resp.StatusCode, body)
		}
	}
	resp, err := http.Get(base + "/v1/services/web?tag=a%20b")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("a well-encoded query: %d, want 200", resp.StatusCode)
	}
}

// TestReloadOverQuotaKeepsChecks: a definition file that pushes the agent
// over its registration quota applies in part (the catalog takes what fits),
// and every file instance the catalog then holds has its checks running: none
// is served without them.
func TestReloadOverQuotaKeepsChecks(t *testing.T) {
	dir := t.TempDir()
	cfg := agenttest.Config(t, "node-a")
	cfg.ConfigDir = dir
	cfg.Leases.MaxRecordsPerOrigin = 4
	a := agenttest.Start(t, cfg)
	var defs []string
	for i := range 6 {
		defs = append(defs, fmt.Sprintf(`{"name":"q","id":"q%d","port":%d,"checks":[{"type":"ttl","ttl":"1h"}]}`, i, 9000+i))
	}
	if err := os.WriteFile(filepath.Join(dir, "q.json"), []byte("["+strings.Join(defs, ",")+"]"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := a.Reload(); err == nil || !strings.Contains(err.Error(), "quota") {
		t.Fatalf("reload over the quota: %v, want a quota error", err)
	}
	checked := map[string]bool{}
	for _, cs := range a.CheckStates() {
		checked[cs.Instance] = true
	}
	held := 0
	for _, in := range a.Catalog().Local() {
		if in.Service != "q" {
			continue
		}
		held++
		if !checked[in.ID] {
			t.Errorf("instance %s is held (%s) without its check", in.ID, in.Health)
		}
	}
	if held == 0 {
		t.Fatal("nothing of the file applied; the test needs a partial apply")
	}
}
