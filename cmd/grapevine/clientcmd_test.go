package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/grapevine-sd/grapevine/api"
	"github.com/grapevine-sd/grapevine/internal/testaddr"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// checkGolden compares got with testdata/name.golden (or rewrites it).
func checkGolden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name+".golden")
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("%s differs from %s (go test -update rewrites it)\n--- got\n%s\n--- want\n%s", name, path, got, want)
	}
}

// transcript is what a golden file holds: the command, its exit code, its
// output and the requests the fake agent served.
func transcript(args []string, code int, stdout, stderr string, requests []string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "$ %s\nexit %d\n-- stdout --\n%s-- stderr --\n%s", strings.Join(args, " "), code, stdout, stderr)
	if len(requests) > 0 {
		fmt.Fprintf(&b, "-- requests --\n%s\n", strings.Join(requests, "\n"))
	}
	return b.String()
}

func TestClientCommandsGolden(t *testing.T) {
	tests := []struct {
		name string
		args []string // after "grapevine", before -http
		code int
	}{
		{"lookup", []string{"lookup", "web"}, exitOK},
		{"lookup_any_stale", []string{"lookup", "web", "-health", "any"}, exitOK},
		{"lookup_filters_json", []string{"lookup", "-tag", "v2", "-meta", "version:2", "-zone=eu-1", "-json", "web"}, exitOK},
		{"lookup_none", []string{"lookup", "nothing"}, exitNoResult},
		{"lookup_none_json", []string{"lookup", "-json", "web", "-health", "warning"}, exitNoResult},
		{"lookup_bad_health", []string{"lookup", "web", "-health", "sick"}, exitUsage},
		{"lookup_bad_meta", []string{"lookup", "web", "-meta", "novalue"}, exitUsage},
		{"lookup_no_name", []string{"lookup"}, exitUsage},
		{"lookup_two_names", []string{"lookup", "web", "db"}, exitUsage},
		{"lookup_unknown_flag", []string{"lookup", "web", "-colour", "red"}, exitUsage},
		{"services", []string{"services"}, exitOK},
		{"services_json", []string{"services", "-json"}, exitOK},
		{"members", []string{"members"}, exitOK},
		{"members_json", []string{"members", "-json"}, exitOK},
		{"register_flags", []string{"register", "-name", "api", "-id", "api-1", "-port", "9000", "-tag", "v1", "-tag", "blue", "-meta", "owner:team-a"}, exitOK},
		{"register_file", []string{"register", "-file", "testdata/register.json"}, exitOK},
		{"register_file_json", []string{"register", "-json", "-file", "testdata/register.json"}, exitOK},
		{"register_file_and_flag", []string{"register", "-file", "testdata/register.json", "-port", "1"}, exitUsage},
		{"register_bad_file", []string{"register", "-file", "testdata/register_unknown_field.json"}, exitUsage},
		{"register_no_name", []string{"register", "-port", "80"}, exitUsage},
		{"register_bad_port", []string{"register", "-name", "x", "-port", "70000"}, exitUsage},
		{"deregister", []string{"deregister", "db"}, exitOK},
		{"deregister_unknown", []string{"deregister", "nope"}, exitFailure},
		{"deregister_no_id", []string{"deregister"}, exitUsage},
		{"maint_enable", []string{"maint", "db", "-enable", "-reason", "disk swap"}, exitOK},
		{"maint_disable", []string{"maint", "-disable", "db"}, exitOK},
		{"maint_neither", []string{"maint", "db"}, exitUsage},
		{"maint_both", []string{"maint", "db", "-enable", "-disable"}, exitUsage},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { runGolden(t, tt.name, tt.args, tt.code) })
	}
}

// runGolden runs grapevine with args (and -http of a fake agent), checks the
// exit code and compares the transcript with testdata/name.golden.
func runGolden(t *testing.T, name string, args []string, want int) {
	t.Helper()
	f := newFakeAgent(t)
	full := append(append([]string{"grapevine"}, args...), "-http", f.srv.URL)
	var out, errb bytes.Buffer
	code := run(full, &out, &errb)
	if code != want {
		t.Errorf("exit %d, want %d; stderr: %s", code, want, errb.String())
	}
	stderr := strings.ReplaceAll(errb.String(), f.srv.URL, "http://AGENT")
	shown := append([]string{"grapevine"}, args...)
	checkGolden(t, name, transcript(shown, code, out.String(), stderr, f.requestLog()))
}

func TestClientCommandUnreachable(t *testing.T) {
	addr := testaddr.Refused(t) // no agent there, and no other program either
	for _, cmd := range [][]string{{"lookup", "web"}, {"services"}, {"members"}, {"register", "-name", "x"}, {"deregister", "x"}, {"maint", "x", "-enable"}, {"watch", "web"}} {
		var out, errb bytes.Buffer
		code := run(append(append([]string{"grapevine"}, cmd...), "-http", addr), &out, &errb)
		if code != exitFailure || !strings.Contains(errb.String(), "agent unreachable") {
			t.Errorf("%v: exit %d, stderr %q; want %d and 'agent unreachable'", cmd, code, errb.String(), exitFailure)
		}
	}
}

func TestClientCommandAddressFromEnv(t *testing.T) {
	f := newFakeAgent(t)
	t.Setenv("GRAPEVINE_HTTP_ADDR", strings.TrimPrefix(f.srv.URL, "http://"))
	var out, errb bytes.Buffer
	if code := run([]string{"grapevine", "members"}, &out, &errb); code != exitOK {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	if !strings.Contains(out.String(), "node-a") {
		t.Errorf("got %q", out.String())
	}
	if code := run([]string{"grapevine", "members", "-http", "ftp://x"}, &out, &errb); code != exitUsage {
		t.Errorf("bad -http: exit %d, want %d", code, exitUsage)
	}
}

func TestWatchGolden(t *testing.T) {
	for _, asJSON := range []bool{false, true} {
		name := "watch"
		args := []string{"grapevine", "watch", "web"}
		if asJSON {
			name, args = "watch_json", append(args, "-json")
		}
		t.Run(name, func(t *testing.T) {
			f := newFakeAgent(t)
			changed := f.instances[1]
			changed.Health, changed.Version.Seq = "critical", 3
			f.events = []api.StreamEvent{
				{Index: 43, Type: api.EventUpsert, Instance: &changed},
				{Index: 44, Type: api.EventUpsert, Instance: &api.Instance{ID: "web-5", Service: "web", Node: "node-e", Address: "10.0.0.5", Port: 8080, Health: api.HealthPassing, Version: api.Version{Epoch: 1, Seq: 1}}},
				{Index: 45, Type: api.EventDelete, Instance: &api.Instance{ID: "web-2", Service: "web", Node: "node-b"}},
				{Index: 46, Type: api.EventReset, Instances: []api.Instance{changed}},
			}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			var out, errb lockedBuffer
			done := make(chan int, 1)
			go func() { done <- runContext(ctx, append(args, "-http", f.srv.URL), &out, &errb) }()
			select {
			case <-f.streamed:
			case code := <-done:
				t.Fatalf("watch ended early with %d: %s", code, errb.String())
			case <-time.After(10 * time.Second):
				t.Fatal("stream never served")
			}
			// The last event's output marks the end of what the fake sent.
			deadline := time.Now().Add(15 * time.Second)
			for !strings.Contains(out.String(), "46") {
				if time.Now().After(deadline) {
					t.Fatalf("no output for the last event; got %q", out.String())
				}
				time.Sleep(time.Millisecond)
			}
			cancel() // ctrl-C
			if code := <-done; code != exitOK {
				t.Errorf("exit %d after interrupt, want 0; stderr %s", code, errb.String())
			}
			checkGolden(t, name, transcript(args, exitOK, out.String(), errb.String(), nil))
		})
	}
}

func TestWatchReconnects(t *testing.T) {
	var mu sync.Mutex
	var queries []string
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/stream", func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		queries = append(queries, r.URL.RawQuery)
		n := len(queries)
		mu.Unlock()
		w.Header().Set("Content-Type", api.StreamContentType)
		ev := api.StreamEvent{Index: uint64(10 * n), Type: api.EventUpsert, Instance: &api.Instance{ID: fmt.Sprint("web-", n), Node: "n", Health: api.HealthPassing}}
		_ = api.WriteEvent(w, ev)
		if n == 1 {
			return // the agent went away
		}
		w.(http.Flusher).Flush()
		<-r.Context().Done()
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out, errb lockedBuffer
	done := make(chan int, 1)
	go func() { done <- runContext(ctx, []string{"grapevine", "watch", "web", "-http", srv.URL}, &out, &errb) }()
	deadline := time.Now().Add(15 * time.Second)
	for !strings.Contains(out.String(), "[20] + web-2") {
		if time.Now().After(deadline) {
			t.Fatalf("no event after reconnect; stdout %q stderr %q", out.String(), errb.String())
		}
		time.Sleep(time.Millisecond)
	}
	cancel()
	if code := <-done; code != exitOK {
		t.Errorf("exit %d", code)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(queries) != 2 || queries[1] != "index=10&service=web" {
		t.Errorf("stream queries %q, want the second to resume at index 10", queries)
	}
	if !strings.Contains(errb.String(), "stream ended by the agent; reconnecting") {
		t.Errorf("stderr %q", errb.String())
	}
}
