package repocheck

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/grapevine-sd/grapevine/agent"
)

// unit reads a systemd unit file into key → values (repeated keys append).
func unit(t *testing.T, path string) map[string][]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string][]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' || line[0] == ';' || line[0] == '[' {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			t.Fatalf("%s: not key=value: %q", path, line)
		}
		out[k] = append(out[k], v)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestDistUnit: the unit starts the agent with dist/agent.yaml's path, its
// directories are the example config's data_dir and config_dir, Type=notify
// is backed by the agent's sd_notify (cmd/grapevine), and, where systemd is
// installed, systemd-analyze verifies it.
func TestDistUnit(t *testing.T) {
	path := filepath.Join(root(t), "dist", "grapevine.service")
	u := unit(t, path)
	want := map[string]string{
		"Type":                  "notify",
		"ExecReload":            "/bin/kill -HUP $MAINPID",
		"Restart":               "on-failure",
		"DynamicUser":           "yes",
		"StateDirectory":        "grapevine",
		"NoNewPrivileges":       "yes",
		"ProtectSystem":         "strict",
		"KillSignal":            "SIGTERM",
		"CapabilityBoundingSet": "",
	}
	for k, v := range want {
		if got := u[k]; len(got) != 1 || got[0] != v {
			t.Errorf("%s = %q, want %q", k, got, v)
		}
	}
	exec0 := strings.Fields(strings.Join(u["ExecStart"], " "))
	if len(exec0) < 4 || exec0[1] != "agent" || !slices.Contains(exec0, "-config") || !slices.Contains(exec0, "-encrypt-file") {
		t.Fatalf("ExecStart = %q: want `grapevine agent -config FILE -encrypt-file KEY`", exec0)
	}

	var cfg agent.Config = agent.DefaultConfig()
	if err := cfg.LoadFile(filepath.Join(root(t), "dist", "agent.yaml")); err != nil {
		t.Fatalf("dist/agent.yaml: %v", err)
	}
	cfg.EncryptFile = "/run/credentials/grapevine.service/gossip.key" // what -encrypt-file %d/gossip.key sets
	if err := cfg.Validate(); err != nil {
		t.Errorf("dist/agent.yaml with the unit's flags: %v", err)
	}
	if cfg.DataDir != "/var/lib/"+u["StateDirectory"][0] {
		t.Errorf("data_dir %q is not the unit's StateDirectory /var/lib/%s", cfg.DataDir, u["StateDirectory"][0])
	}
	if dir := u["ConfigurationDirectory"]; len(dir) != 1 || !strings.HasPrefix(cfg.ConfigDir, "/etc/"+dir[0]+"/") {
		t.Errorf("config_dir %q is not under the unit's ConfigurationDirectory /etc/%v", cfg.ConfigDir, dir)
	}

	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("systemd-analyze not installed (Debian: apt-get install systemd); unit not verified")
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	// verify wants an executable at ExecStart's path and a unit named as installed.
	tmp := filepath.Join(t.TempDir(), "grapevine.service")
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(tmp, []byte(strings.ReplaceAll(string(b), exec0[0], self)), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(analyze, "verify", tmp).CombinedOutput(); err != nil {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}
}
