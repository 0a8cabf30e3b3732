package agent_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/grapevine-sd/grapevine/agent"
	"github.com/grapevine-sd/grapevine/agent/agenttest"
	"github.com/grapevine-sd/grapevine/api"
)

// TestDataDirUnreadableAsNonRoot: a registrations.json, registrations.log or epoch.json the
// agent's user cannot read stops agent.New with a clear error, and nothing in
// the data directory changes. The check runs as user nobody (tests run as
// root, which reads anything).
func TestDataDirUnreadableAsNonRoot(t *testing.T) {
	if dir := os.Getenv("GRAPEVINE_TEST_DATADIR_CHILD"); dir != "" {
		cfg := agenttest.Config(t, "node-a")
		cfg.DataDir = dir
		a, err := agent.New(cfg)
		if err == nil {
			a.Close()
			t.Fatal("agent.New started with an unreadable data file")
		}
		if !strings.Contains(err.Error(), "cannot read") || !strings.Contains(err.Error(), "permission denied") {
			t.Fatalf("error %v: want cannot read, permission denied", err)
		}
		t.Logf("uid %d refused: %v", os.Geteuid(), err)
		return
	}
	for _, file := range []string{"registrations.json", "registrations.log", "epoch.json"} {
		t.Run(file, func(t *testing.T) {
			base, err := os.MkdirTemp("", "grapevine-datadir-")
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { os.RemoveAll(base) })
			dir := filepath.Join(base, "data")
			cfg := agenttest.Config(t, "node-a")
			cfg.DataDir = dir
			a := agenttest.Start(t, cfg)
			mustRegister(t, agenttest.Client(t, a), api.Registration{Name: "web", Checks: ttlCheck()})
			a.Close()
			for _, p := range []string{base, dir} {
				if err := os.Chmod(p, 0o755); err != nil {
					t.Fatal(err)
				}
			}
			if err := os.Chown(dir, agenttest.Nobody, agenttest.Nobody); err != nil && os.Geteuid() == 0 {
				t.Fatal(err)
			}
			if err := os.Chmod(filepath.Join(dir, file), 0o000); err != nil {
				t.Fatal(err)
			}
			before := readDir(t, dir)
			out, err := agenttest.RerunAsNobody(t, base, "TestDataDirUnreadableAsNonRoot", "GRAPEVINE_TEST_DATADIR_CHILD="+dir)
			if err != nil {
				t.Fatalf("child: %v\n%s", err, out)
			}
			if !strings.Contains(out, "refused") || (os.Geteuid() == 0 && !strings.Contains(out, "uid 65534 refused")) {
				t.Fatalf("child did not run the check:\n%s", out)
			}
			if after := readDir(t, dir); after != before {
				t.Errorf("data directory changed:\nbefore %s\nafter  %s", before, after)
			}
		})
	}
}

func ttlCheck() []json.RawMessage {
	return []json.RawMessage{json.RawMessage(`{"type":"ttl","ttl":"1m"}`)}
}

// readDir describes a directory's files, sizes and contents (as root).
func readDir(t *testing.T, dir string) string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, e := range entries {
		c, _ := os.ReadFile(filepath.Join(dir, e.Name()))
		b.WriteString(e.Name() + "=" + string(c) + ";")
	}
	return b.String()
}
