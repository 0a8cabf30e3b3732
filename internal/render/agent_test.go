package render

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/grapevine-sd/grapevine/agent/agenttest"
	"github.com/grapevine-sd/grapevine/api"
)

// TestRunAgainstAgent runs the engine against real agents on loopback, in
// real time: renders and commands on registration changes, an agent that
// stops (the file stays), and a new agent on the same address (rendered
// again from its catalog, whose indexes start over).
func TestRunAgainstAgent(t *testing.T) {
	cfgA := agenttest.Config(t, "node-a")
	a := agenttest.Start(t, cfgA)
	register := func(c *api.Client, id string, port int) {
		t.Helper()
		if _, err := c.Register(t.Context(), api.Registration{ID: id, Name: "web", Address: "10.0.0.1", Port: port}); err != nil {
			t.Fatalf("register %s: %v", id, err)
		}
	}
	register(agenttest.Client(t, a), "web-1", 8001)

	dir := t.TempDir()
	src, dest, marker := filepath.Join(dir, "web.tmpl"), filepath.Join(dir, "web.cfg"), filepath.Join(dir, "reloads")
	if err := os.WriteFile(src, []byte(`{{range service "web"}}server {{.ID}} {{hostPort .Address .Port}}
{{end}}`), 0o644); err != nil {
		t.Fatal(err)
	}
	var logs logBuffer
	cfg := DefaultConfig()
	cfg.Agent = agenttest.ClientAt(t, a.HTTPAddr())
	cfg.Templates = []Template{{Source: src, Dest: dest, Command: "echo reload >> " + marker}}
	cfg.Wait = Wait{Min: 10 * time.Millisecond, Max: 100 * time.Millisecond}
	cfg.RetryMax = 200 * time.Millisecond
	cfg.Logger = logs.logger()
	e, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- e.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}()

	fileIs := func(want string, reloads int) func() (bool, string) {
		return func() (bool, string) {
			b, _ := os.ReadFile(dest)
			m, _ := os.ReadFile(marker)
			n := strings.Count(string(m), "reload\n")
			return string(b) == want && n == reloads, fmt.Sprintf("file %q after %d reloads, want %q after %d", b, n, want, reloads)
		}
	}
	agenttest.Eventually(t, 15*time.Second, fileIs("server web-1 10.0.0.1:8001\n", 1))
	register(agenttest.Client(t, a), "web-2", 8002)
	agenttest.Eventually(t, 15*time.Second, fileIs("server web-1 10.0.0.1:8001\nserver web-2 10.0.0.1:8002\n", 2))

	// The agent goes away: the file stays as it is.
	addr := a.HTTPAddr()
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	agenttest.Eventually(t, 15*time.Second, func() (bool, string) {
		return strings.Contains(logs.String(), "agent lookup failed"), "no lookup failure logged"
	})
	agenttest.Eventually(t, time.Second, fileIs("server web-1 10.0.0.1:8001\nserver web-2 10.0.0.1:8002\n", 2))

	// Another agent comes up on the same address with other instances.
	cfgB := agenttest.Config(t, "node-b")
	cfgB.HTTP = addr
	b := agenttest.Start(t, cfgB)
	register(agenttest.Client(t, b), "web-3", 8003)
	// The new agent may answer once before web-3 is registered: an empty
	// service is a real change of the file (one more reload), not a spurious one.
	agenttest.Eventually(t, 15*time.Second, func() (bool, string) {
		ok3, msg := fileIs("server web-3 10.0.0.1:8003\n", 3)()
		ok4, _ := fileIs("server web-3 10.0.0.1:8003\n", 4)()
		return ok3 || ok4, msg + " (or 4, after an empty answer)"
	})
	if !strings.Contains(logs.String(), "agent answers again") {
		t.Errorf("no recovery logged:\n%s", logs.String())
	}
}
