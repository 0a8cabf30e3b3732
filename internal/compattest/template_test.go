package compattest

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/grapevine-sd/grapevine/agent/agenttest"
	consul "github.com/hashicorp/consul/api"
)

// consulTemplate finds the consul-template program: in the repository's
// .tools/ (make deps-consul), then in PATH.
func consulTemplate(t *testing.T) string {
	t.Helper()
	if p, err := filepath.Abs("../../.tools/consul-template"); err == nil {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	if p, err := exec.LookPath("consul-template"); err == nil {
		return p
	}
	t.Skip("consul-template is not installed: run `make deps-consul` (go install into .tools/)")
	return ""
}

// TestConsulTemplate runs the real consul-template against a Grapevine
// agent's Consul listener: it renders a file from a service registered at
// another agent and re-renders it when an instance is added.
func TestConsulTemplate(t *testing.T) {
	bin := consulTemplate(t)
	a, b := startPair(t)
	ca := consulClient(t, a)
	if err := ca.Agent().ServiceRegister(&consul.AgentServiceRegistration{ID: "web-1", Name: "web", Port: 8001, Address: "127.0.0.1"}); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	tmpl := filepath.Join(dir, "upstreams.ctmpl")
	out := filepath.Join(dir, "upstreams.conf")
	src := "{{ range service \"web\" }}server {{ .Address }}:{{ .Port }}; # {{ .Node }}\n{{ end }}"
	if err := os.WriteFile(tmpl, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cmd := exec.CommandContext(ctx, bin, "-consul-addr", b.ConsulAddr(), "-template", tmpl+":"+out, "-log-level", "warn",
		"-consul-retry-attempts", "3", "-wait", "0s")
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stderr, &stderr
	cmd.Env = append(os.Environ(), "CONSUL_HTTP_TOKEN=")
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		cancel()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("consul-template output:\n%s", stderr.String())
		}
	}()
	read := func() string {
		b, _ := os.ReadFile(out)
		return string(b)
	}
	agenttest.Eventually(t, 20*time.Second, func() (bool, string) {
		return read() == "server 127.0.0.1:8001; # node-a\n", "first render: " + read()
	})
	changed := time.Now()
	if err := ca.Agent().ServiceRegister(&consul.AgentServiceRegistration{ID: "web-2", Name: "web", Port: 8002, Address: "127.0.0.1"}); err != nil {
		t.Fatal(err)
	}
	agenttest.Eventually(t, 20*time.Second, func() (bool, string) {
		return strings.Count(read(), "server ") == 2, "re-render: " + read()
	})
	t.Logf("consul-template: re-rendered %v after a registration at another agent", time.Since(changed).Round(time.Millisecond))
}
