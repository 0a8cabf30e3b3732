package render

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/grapevine-sd/grapevine/api"
)

// The engine tests run Run inside a synctest bubble against fakeAgent:
// quiescence, polling and backoff happen in virtual time, exactly.

func inst(id, addr string) api.Instance {
	return api.Instance{ID: id, Service: "web", Node: "node-" + id, Address: addr, Port: 80, Health: api.HealthPassing}
}

// harness is an engine rendering templates of a temporary directory.
type harness struct {
	t    *testing.T
	dir  string
	logs *logBuffer
	e    *Engine
	stop func() // cancels Run and waits for it
}

// newHarness writes each template (name → text) as dir/name.tmpl rendering
// into dir/name, and builds an engine with cfg changed by mutate.
func newHarness(t *testing.T, f *fakeAgent, mutate func(*Config), templates ...string) *harness {
	t.Helper()
	h := &harness{t: t, dir: t.TempDir(), logs: &logBuffer{}}
	cfg := DefaultConfig()
	cfg.Agent = f
	cfg.Wait = Wait{Min: time.Second, Max: 4 * time.Second}
	cfg.Logger = h.logs.logger()
	for i := 0; i < len(templates); i += 2 {
		src := filepath.Join(h.dir, templates[i]+".tmpl")
		h.writeTemplate(templates[i], templates[i+1])
		cfg.Templates = append(cfg.Templates, Template{Source: src, Dest: filepath.Join(h.dir, templates[i])})
	}
	if mutate != nil {
		mutate(&cfg)
	}
	e, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	h.e = e
	return h
}

// run starts Run in a goroutine of the bubble.
func (h *harness) run() {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- h.e.Run(ctx) }()
	h.stop = func() {
		cancel()
		if err := <-done; err != nil {
			h.t.Errorf("Run: %v", err)
		}
	}
	h.t.Cleanup(func() {
		if ctx.Err() == nil {
			h.stop()
		}
	})
}

func (h *harness) writeTemplate(name, text string) {
	h.t.Helper()
	if err := os.WriteFile(filepath.Join(h.dir, name+".tmpl"), []byte(text), 0o644); err != nil {
		h.t.Fatal(err)
	}
}

func (h *harness) path(name string) string { return filepath.Join(h.dir, name) }

// want checks the content of dir/name ("" with absent for no file).
func (h *harness) want(name, content string) {
	h.t.Helper()
	b, err := os.ReadFile(h.path(name))
	if err != nil {
		h.t.Fatalf("%s: %v (want %q)", name, err, content)
	}
	if string(b) != content {
		h.t.Fatalf("%s holds %q, want %q", name, b, content)
	}
}

func (h *harness) wantAbsent(name string) {
	h.t.Helper()
	if _, err := os.Stat(h.path(name)); !errors.Is(err, os.ErrNotExist) {
		h.t.Fatalf("%s: stat %v, want no file", name, err)
	}
}

func (h *harness) stat(name string) os.FileInfo {
	h.t.Helper()
	fi, err := os.Stat(h.path(name))
	if err != nil {
		h.t.Fatal(err)
	}
	return fi
}

// advance moves virtual time on by d once every goroutine is idle.
func advance(d time.Duration) {
	synctest.Wait()
	time.Sleep(d)
	synctest.Wait()
}

const webTemplate = `{{range service "web"}}{{.ID}} {{.Address}}
{{end}}`

func TestRunRendersAfterQuiescence(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFakeAgent()
		f.set("web", inst("web-1", "10.0.0.1"))
		h := newHarness(t, f, nil, "web", webTemplate)
		h.run()
		// The first data arrives at once and is rendered Wait.Min later.
		advance(time.Second - time.Millisecond)
		h.wantAbsent("web")
		advance(time.Millisecond)
		h.want("web", "web-1 10.0.0.1\n")

		f.set("web", inst("web-1", "10.0.0.1"), inst("web-2", "10.0.0.2"))
		advance(time.Second - time.Millisecond)
		h.want("web", "web-1 10.0.0.1\n")
		advance(time.Millisecond)
		h.want("web", "web-1 10.0.0.1\nweb-2 10.0.0.2\n")

		// A new index with the same instances renders the same content:
		// the file is not written again.
		before := h.stat("web")
		f.set("web", inst("web-2", "10.0.0.2"), inst("web-1", "10.0.0.1"))
		advance(2 * time.Second)
		if !os.SameFile(before, h.stat("web")) {
			t.Error("unchanged content was written again")
		}
		if strings.Count(h.logs.String(), `"message":"rendered"`) != 2 {
			t.Errorf("want 2 renders logged:\n%s", h.logs)
		}
	})
}

func TestRunMaxWait(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFakeAgent()
		f.set("web", inst("web-0", "10.0.0.1"))
		h := newHarness(t, f, nil, "web", `{{range service "web"}}{{.ID}}{{end}}`) // Wait 1s:4s
		h.run()
		advance(time.Second)
		h.want("web", "web-0")
		// A change every 500 ms, never a quiet second: Wait.Max after the
		// first change, the file holds what was there by then.
		for i := 1; i <= 8; i++ {
			f.set("web", inst("web-"+string(rune('0'+i)), "10.0.0.1"))
			if i < 8 {
				advance(500 * time.Millisecond)
			}
		}
		// First change at T, the eighth at T+3.5s; the render is due at T+4s.
		advance(500*time.Millisecond - time.Millisecond)
		h.want("web", "web-0")
		advance(time.Millisecond)
		h.want("web", "web-8")
	})
}

func TestRunZeroWaitRendersEveryChange(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFakeAgent()
		f.set("web", inst("web-1", "10.0.0.1"))
		h := newHarness(t, f, func(c *Config) { c.Wait = Wait{} }, "web", `{{range service "web"}}{{.ID}}{{end}}`)
		h.run()
		synctest.Wait()
		h.want("web", "web-1")
		f.set("web", inst("web-2", "10.0.0.1"))
		synctest.Wait()
		h.want("web", "web-2")
	})
}

// TestRunFollowsDependencies: what a template looks up depends on what it
// found; the engine watches exactly the services the last render used.
func TestRunFollowsDependencies(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFakeAgent()
		front := api.Instance{ID: "lb", Node: "n", Health: api.HealthPassing, Meta: map[string]string{"backend": "blue"}}
		f.set("front", front)
		f.set("blue", inst("blue-1", "10.0.1.1"))
		f.set("green", inst("green-1", "10.0.2.1"))
		h := newHarness(t, f, nil, "lb", `{{range service "front"}}{{range service .Meta.backend}}{{.ID}}{{end}}{{end}}`)
		h.run()
		advance(2 * time.Second) // front, then blue, each after Wait.Min
		h.want("lb", "blue-1")
		if got := f.blockedOn(); !slices.Equal(got, []string{"blue", "front"}) {
			t.Errorf("watching %v, want [blue front]", got)
		}
		front.Meta = map[string]string{"backend": "green"}
		f.set("front", front)
		advance(2 * time.Second)
		h.want("lb", "green-1")
		if got := f.blockedOn(); !slices.Equal(got, []string{"front", "green"}) {
			t.Errorf("watching %v, want [front green]: the loop of blue must stop", got)
		}
	})
}

func TestRunAgentDownThenUp(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFakeAgent()
		f.set("web", inst("web-1", "10.0.0.1"))
		h := newHarness(t, f, nil, "web", webTemplate)
		h.run()
		advance(time.Second)
		h.want("web", "web-1 10.0.0.1\n")
		before := h.stat("web")

		f.setDown(true)
		callsBefore := f.callCount("web")
		advance(time.Minute)
		h.want("web", "web-1 10.0.0.1\n")
		if !os.SameFile(before, h.stat("web")) {
			t.Error("the file was rewritten while the agent was down")
		}
		// Backoff 100ms doubling to 5s: about 6 retries in the first 6.3 s,
		// then one every 5 s.
		if n := f.callCount("web") - callsBefore; n < 12 || n > 20 {
			t.Errorf("%d lookups in a minute of outage, want 12..20 (backoff capped at 5s)", n)
		}
		logs := h.logs.String()
		if n := strings.Count(logs, `"level":"warn"`); n != 1 || !strings.Contains(logs, "agent lookup failed") {
			t.Errorf("want one warning for the outage, got %d:\n%s", n, logs)
		}

		// The agent comes back restarted: its indexes start over, below the
		// one the engine last saw.
		f.restart()
		f.set("web", inst("web-2", "10.0.0.2"))
		f.setDown(false)
		advance(5*time.Second + time.Second) // the next retry, then Wait.Min
		h.want("web", "web-2 10.0.0.2\n")
		if !strings.Contains(h.logs.String(), "agent answers again") {
			t.Errorf("no recovery logged:\n%s", h.logs)
		}
	})
}

// TestRunAgentThatDoesNotBlock: an agent answering blocking queries at once
// is polled, ever slower up to PollInterval, and its changes still arrive.
func TestRunAgentThatDoesNotBlock(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFakeAgent()
		f.noBlock = true
		f.set("web", inst("web-1", "10.0.0.1"))
		h := newHarness(t, f, nil, "web", webTemplate)
		h.run()
		advance(time.Minute)
		h.want("web", "web-1 10.0.0.1\n")
		// 100ms doubling to 5s: 6 lookups in the first 6.3 s, then one per 5 s.
		if n := f.callCount("web"); n < 12 || n > 20 {
			t.Errorf("%d lookups in a minute, want 12..20", n)
		}
		f.set("web", inst("web-2", "10.0.0.2"))
		advance(6 * time.Second)
		h.want("web", "web-2 10.0.0.2\n")
	})
}

func TestRunAgentDownAtStartKeepsFile(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFakeAgent()
		f.setDown(true)
		h := newHarness(t, f, nil, "web", webTemplate, "static", `static {{env "HOME" | len | printf "%T"}}`)
		if err := os.WriteFile(h.path("web"), []byte("last good\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		h.run()
		advance(30 * time.Second)
		h.want("web", "last good\n")
		// A template without lookups does not wait for the agent.
		h.want("static", "static int")
	})
}

func TestRunTemplateErrorKeepsFile(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFakeAgent()
		f.set("web", inst("web-1", "10.0.0.1"))
		h := newHarness(t, f, nil, "first", `{{(index (service "web") 0).ID}}`)
		h.run()
		advance(time.Second)
		h.want("first", "web-1")
		f.set("web")
		advance(time.Second)
		h.want("first", "web-1")
		if !strings.Contains(h.logs.String(), "index out of range") {
			t.Errorf("the failed render is not logged:\n%s", h.logs)
		}
	})
}

func TestRunReload(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFakeAgent()
		f.set("web", inst("web-1", "10.0.0.1"))
		h := newHarness(t, f, nil, "web", `old {{range service "web"}}{{.ID}}{{end}}`)
		h.run()
		advance(time.Second)
		h.want("web", "old web-1")

		// A template that does not parse: Reload fails, the old one stays
		// in use, also for the next change.
		h.writeTemplate("web", `new {{range service "web"}}{{.ID}}{{nope}}{{end}}`)
		if err := h.e.Reload(); err == nil || !strings.Contains(err.Error(), `function "nope" not defined`) {
			t.Fatalf("Reload of a bad template: %v", err)
		}
		f.set("web", inst("web-2", "10.0.0.1"))
		advance(time.Second)
		h.want("web", "old web-2")

		// A good one is rendered at once, without waiting for a change.
		h.writeTemplate("web", `new {{range service "web"}}{{.ID}}{{end}}`)
		if err := h.e.Reload(); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		h.want("web", "new web-2")
	})
}

func TestRunPollsMembers(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFakeAgent()
		f.setMembers(api.Member{Name: "a", Status: api.MemberAlive})
		h := newHarness(t, f, nil, "members", `{{range members}}{{.Name}}={{.Status}} {{end}}`)
		h.run()
		advance(time.Second)
		h.want("members", "a=alive ")
		calls := f.callCount("/members")
		f.setMembers(api.Member{Name: "a", Status: api.MemberFailed})
		// Polled at 0s and 5s (PollInterval), rendered at 6s (Wait.Min).
		advance(4 * time.Second)
		h.want("members", "a=alive ")
		advance(time.Second)
		h.want("members", "a=failed ")
		if n := f.callCount("/members") - calls; n != 1 {
			t.Errorf("%d polls from 1s to 6s, want 1 (at 5s)", n)
		}
	})
}

func TestRunDry(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFakeAgent()
		f.set("web", inst("web-1", "10.0.0.1"))
		var out logBuffer
		marker := filepath.Join(t.TempDir(), "ran")
		h := newHarness(t, f, func(c *Config) {
			c.Dry, c.DryOutput = true, &out
			c.Templates[0].Command = "touch " + marker
		}, "web", `{{range service "web"}}{{.ID}}{{end}}`)
		h.run()
		advance(time.Second)
		f.set("web", inst("web-1", "10.0.0.1")) // same content: not printed again
		advance(time.Second)
		f.set("web", inst("web-2", "10.0.0.1"))
		advance(time.Second)
		want := "> " + h.path("web") + "\nweb-1\n> " + h.path("web") + "\nweb-2\n"
		if out.String() != want {
			t.Errorf("dry output %q, want %q", out.String(), want)
		}
		h.wantAbsent("web")
		if _, err := os.Stat(marker); err == nil {
			t.Error("a dry run ran the command")
		}
	})
}

func TestRunStopsLoops(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFakeAgent()
		f.set("web", inst("web-1", "10.0.0.1"))
		f.setMembers(api.Member{Name: "a"})
		h := newHarness(t, f, nil, "web", `{{service "web"}}{{service "db"}}{{members}}`)
		h.run()
		advance(time.Second)
		h.stop()
		// synctest.Test fails on any goroutine of the bubble still blocked at
		// its end; this checks Run returned after its loops.
		if got := f.blockedOn(); len(got) != 0 {
			t.Errorf("queries still blocked on %v after Run returned", got)
		}
	})
}

func TestOnce(t *testing.T) {
	f := newFakeAgent()
	front := api.Instance{ID: "lb", Node: "n", Health: api.HealthPassing, Meta: map[string]string{"backend": "blue"}}
	f.set("front", front)
	f.set("blue", inst("blue-1", "10.0.1.1"))
	f.setMembers(api.Member{Name: "a"})
	dir := t.TempDir()
	marker := filepath.Join(dir, "ran")
	h := newHarness(t, f, func(c *Config) {
		c.Templates[0].Command = "echo ran >> " + marker
	}, "lb", `{{range service "front"}}{{range service .Meta.backend}}{{.ID}}{{end}}{{end}} {{len members}}`)
	if err := h.e.Once(t.Context()); err != nil {
		t.Fatalf("Once: %v", err)
	}
	h.want("lb", "blue-1 1")
	before := h.stat("lb")
	// Again with the same data: nothing written, the command not run.
	if err := h.e.Once(t.Context()); err != nil {
		t.Fatalf("Once: %v", err)
	}
	if !os.SameFile(before, h.stat("lb")) {
		t.Error("unchanged content was written again")
	}
	if b, _ := os.ReadFile(marker); string(b) != "ran\n" {
		t.Errorf("command ran %q, want once", b)
	}
}

func TestOnceErrors(t *testing.T) {
	f := newFakeAgent()
	f.set("web", inst("web-1", "10.0.0.1"))
	h := newHarness(t, f, func(c *Config) {
		c.Templates[2].Command = "exit 7"
	}, "bad", `{{(index (service "db") 0).ID}}`, "good", `{{range service "web"}}{{.ID}}{{end}}`, "cmd", `x`)
	err := h.e.Once(t.Context())
	if !errors.Is(err, ErrTemplate) || !strings.Contains(err.Error(), "index out of range") {
		t.Errorf("Once: %v, want the template error", err)
	}
	if !errors.Is(err, errCommand) || !strings.Contains(err.Error(), "exit status 7") {
		t.Errorf("Once: %v, want the command error too", err)
	}
	h.wantAbsent("bad")
	h.want("good", "web-1") // the other templates are rendered all the same
	h.want("cmd", "x")

	f.setDown(true)
	if err := os.WriteFile(h.path("good"), []byte("kept"), 0o644); err != nil {
		t.Fatal(err)
	}
	err = h.e.Once(t.Context())
	if !errors.Is(err, ErrLookup) || !errors.Is(err, errAgentDown) {
		t.Errorf("Once with the agent down: %v, want ErrLookup", err)
	}
	h.want("good", "kept")
}

func TestOnceDry(t *testing.T) {
	f := newFakeAgent()
	f.set("web", inst("web-1", "10.0.0.1"))
	var out bytes.Buffer
	h := newHarness(t, f, func(c *Config) { c.Dry, c.DryOutput = true, &out }, "a", `{{range service "web"}}{{.ID}}{{end}}`, "b", "two\n")
	if err := h.e.Once(t.Context()); err != nil {
		t.Fatal(err)
	}
	want := "> " + h.path("a") + "\nweb-1\n> " + h.path("b") + "\ntwo\n"
	if out.String() != want {
		t.Errorf("dry output %q, want %q", out.String(), want)
	}
	h.wantAbsent("a")
}

func TestNewErrors(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.tmpl")
	bad := filepath.Join(dir, "bad.tmpl")
	os.WriteFile(good, []byte(`{{service "web"}}`), 0o644)
	os.WriteFile(bad, []byte(`{{servce "web"}}`), 0o644)
	tests := []struct {
		name     string
		tmpl     Template
		dry      bool
		sentinel error
		wantErr  string
	}{
		{"parse", Template{Source: bad, Dest: filepath.Join(dir, "out")}, false, ErrTemplate, `bad.tmpl:1: function "servce" not defined`},
		{"missing source", Template{Source: filepath.Join(dir, "nope.tmpl"), Dest: filepath.Join(dir, "out")}, false, ErrTemplate, "no such file"},
		{"missing dir", Template{Source: good, Dest: filepath.Join(dir, "nodir", "out")}, false, ErrInvalidConfig, "directory of DEST"},
		{"dir is a file", Template{Source: good, Dest: filepath.Join(good, "out")}, false, ErrInvalidConfig, "not a directory"},
		{"dry ignores the dir", Template{Source: good, Dest: filepath.Join(dir, "nodir", "out")}, true, nil, ""},
	}
	for _, tt := range tests {
		cfg := DefaultConfig()
		cfg.Agent = newFakeAgent()
		cfg.Templates = []Template{tt.tmpl}
		cfg.Dry = tt.dry
		_, err := New(cfg)
		if tt.sentinel == nil {
			if err != nil {
				t.Errorf("%s: %v", tt.name, err)
			}
			continue
		}
		if !errors.Is(err, tt.sentinel) || !strings.Contains(err.Error(), tt.wantErr) {
			t.Errorf("%s: New: %v, want %v with %q", tt.name, err, tt.sentinel, tt.wantErr)
		}
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 2 {
		t.Errorf("New wrote files: %v", entries)
	}
}
