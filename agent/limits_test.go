package agent_test

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/grapevine-sd/grapevine/agent"
	"github.com/grapevine-sd/grapevine/agent/agenttest"
)

func TestExecChecksOnlyFromFilesByDefault(t *testing.T) {
	marker := filepath.Join(t.TempDir(), "pwned")
	exec := fmt.Sprintf(`{"name":"web","port":80,"checks":[{"type":"exec","args":["/bin/sh","-c","id > %s"],"interval":"1s"}]}`, marker)
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "ok.json"), []byte(`{"name":"filed","port":81,"checks":[{"type":"exec","args":["/bin/true"],"interval":"1s"}]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	_, c, base := single(t, func(cfg *agent.Config) { cfg.ConfigDir = dir })
	code, out := call(t, "PUT", base+"/v1/agent/services", "", exec)
	if code != http.StatusForbidden || !strings.Contains(out, "enable_api_exec_checks") {
		t.Errorf("exec check over HTTP: got %d %s, want 403 naming enable_api_exec_checks", code, out)
	}
	if _, err := c.Instance(t.Context(), "node-a", "web"); err == nil {
		t.Errorf("refused registration was stored")
	}
	waitHealth(t, c, "node-a", "filed", "passing", 15*time.Second)
	if _, err := os.Stat(marker); err == nil {
		t.Fatalf("the exec check ran")
	}

	_, _, base2 := single(t, func(cfg *agent.Config) { cfg.EnableAPIExecChecks = true })
	if code, out := call(t, "PUT", base2+"/v1/agent/services", "", exec); code != http.StatusOK {
		t.Fatalf("with enable_api_exec_checks: got %d %s", code, out)
	}
	agenttest.Eventually(t, 15*time.Second, func() (bool, string) {
		_, err := os.Stat(marker)
		return err == nil, "the enabled exec check did not run"
	})
}

func TestRegistrationLimits(t *testing.T) {
	_, _, base := single(t, func(cfg *agent.Config) {
		cfg.Limits = agent.LimitsConfig{Instances: 2, ChecksPerInstance: 2, Checks: 3}
	})
	ttl := func(n int) string {
		var cs []string
		for i := range n {
			cs = append(cs, fmt.Sprintf(`{"id":"c%d-%%s","type":"ttl","ttl":"1m"}`, i))
		}
		return "[" + strings.Join(cs, ",") + "]"
	}
	reg := func(id string, checks int) string {
		return fmt.Sprintf(`{"name":"web","id":%q,"checks":%s}`, id, strings.ReplaceAll(ttl(checks), "%s", id))
	}
	steps := []struct {
		name, body string
		want       int
	}{
		{"3 checks on one instance", reg("a", 3), 400},
		{"2 checks", reg("a", 2), 200},
		{"2 more checks: 4 > 3 in all", reg("b", 2), 429},
		{"1 more check", reg("b", 1), 200},
		{"replace a, same count", reg("a", 2), 200},
		{"third instance", reg("c", 0), 429},
		{"deregister b", "", 204},
		{"third instance after a deregistration", reg("c", 1), 200},
		{"65 KiB of check definitions", fmt.Sprintf(`{"name":"web","id":"c","checks":[{"type":"ttl","ttl":"1m","name":%q}]}`, strings.Repeat("n", 65<<10)), 400},
	}
	for _, s := range steps {
		method, path := "PUT", "/v1/agent/services"
		if s.body == "" {
			method, path = "DELETE", "/v1/agent/services/b"
		}
		if code, out := call(t, method, base+path, "", s.body); code != s.want {
			t.Errorf("%s: got %d %s, want %d", s.name, code, out, s.want)
		}
	}
	_, out := call(t, "GET", base+"/metrics", "", "")
	for _, want := range []string{`grapevine_http_rejected_total{reason="instance_limit"} 1`, `grapevine_http_rejected_total{reason="check_limit"} 3`} {
		if !strings.Contains(out, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}

func TestSafeBinding(t *testing.T) {
	cases := []struct {
		name string
		mod  func(*agent.Config)
		ok   bool
	}{
		{"loopback", func(c *agent.Config) { c.HTTP = "127.0.0.1:7947" }, true},
		{"localhost", func(c *agent.Config) { c.HTTP = "localhost:7947" }, true},
		{"ipv6 loopback", func(c *agent.Config) { c.HTTP = "[::1]:7947" }, true},
		{"all interfaces", func(c *agent.Config) { c.HTTP = "0.0.0.0:7947" }, false},
		{"empty host", func(c *agent.Config) { c.HTTP = ":7947" }, false},
		{"lan address", func(c *agent.Config) { c.HTTP = "10.0.0.5:7947" }, false},
		{"lan address, insecure", func(c *agent.Config) { c.HTTP = "10.0.0.5:7947"; c.InsecureHTTP = true }, true},
		{"lan address, acl", func(c *agent.Config) { c.HTTP = "10.0.0.5:7947"; c.ACL = aclConfig("deny") }, true},
		{"lan address, tls", func(c *agent.Config) {
			c.HTTP = "10.0.0.5:7947"
			c.TLS = agent.TLSConfig{CertFile: "c.pem", KeyFile: "k.pem"}
		}, true},
		{"disabled", func(c *agent.Config) { c.HTTP = "" }, true},
	}
	for _, tc := range cases {
		cfg := agent.DefaultConfig()
		cfg.Node = "n"
		tc.mod(&cfg)
		err := cfg.Validate()
		if (err == nil) != tc.ok {
			t.Errorf("%s: Validate = %v, want ok %v", tc.name, err, tc.ok)
		}
		if err != nil && !strings.Contains(err.Error(), "insecure-http") {
			t.Errorf("%s: error does not name -insecure-http: %v", tc.name, err)
		}
	}
}

// Registrations made at once hold the limits exactly: their limits checks
// count the ones in flight (whose commits run concurrently and share an
// fsync), so of 12 concurrent registrations under limits.instances 4, four
// succeed.
func TestRegistrationLimitsConcurrent(t *testing.T) {
	_, _, base := single(t, func(cfg *agent.Config) {
		cfg.Limits = agent.LimitsConfig{Instances: 4, ChecksPerInstance: 2, Checks: 8}
	})
	const n = 12
	codes := make(chan int, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			body := fmt.Sprintf(`{"name":"web","id":"web-%d","checks":[{"id":"c-%d","type":"ttl","ttl":"1m"}]}`, i, i)
			code, _ := call(t, "PUT", base+"/v1/agent/services", "", body)
			codes <- code
		}()
	}
	wg.Wait()
	close(codes)
	got := map[int]int{}
	for c := range codes {
		got[c]++
	}
	if got[200] != 4 || got[429] != n-4 {
		t.Errorf("concurrent registrations: %v, want 4 × 200 and %d × 429", got, n-4)
	}
	_, out := call(t, "GET", base+"/v1/services/web?health=any", "", "")
	if c := strings.Count(out, `"id":"web-`); c != 4 {
		t.Errorf("the agent holds %d instances, want 4: %s", c, out)
	}
}
