package agent_test

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/grapevine-sd/grapevine/agent"
)

func TestHTTPConfigFileForms(t *testing.T) {
	cases := []struct {
		name, yaml string
		addr       string
		hosts      []string
		err        string
	}{
		{"flat", "http: 127.0.0.1:9000\nhttp_config:\n  allowed_hosts: [a.example]\n  body_timeout: 3s\n  idle_timeout: 3s\n", "127.0.0.1:9000", []string{"a.example"}, ""},
		{"block", "# comment\nhttp:\n  addr: 127.0.0.1:9001\n  allowed_hosts: [b.example]\n  body_timeout: 3s\n", "127.0.0.1:9001", []string{"b.example"}, ""},
		{"block without addr", "http:\n  allowed_hosts: [c.example]\n  body_timeout: 3s\n", agent.DefaultHTTPAddr, []string{"c.example"}, ""},
		{"block with a typo", "http:\n  addr: 127.0.0.1:9001\n  alowed_hosts: [b.example]\n", "", nil, "alowed_hosts"},
		{"both forms", "http:\n  addr: 127.0.0.1:9001\nhttp_config: {}\n", "", nil, "exclude"},
	}
	for _, tc := range cases {
		path := filepath.Join(t.TempDir(), "c.yaml")
		if err := os.WriteFile(path, []byte(tc.yaml), 0o600); err != nil {
			t.Fatal(err)
		}
		cfg := agent.DefaultConfig()
		err := cfg.LoadFile(path)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%s: err %v, want %q", tc.name, err, tc.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		if cfg.HTTP != tc.addr || !slices.Equal(cfg.HTTPConfig.AllowedHosts, tc.hosts) || cfg.HTTPConfig.BodyTimeout != 3*time.Second ||
			cfg.HTTPConfig.MaxConns != agent.DefaultConfig().HTTPConfig.MaxConns {
			t.Errorf("%s: http %q, http_config %+v", tc.name, cfg.HTTP, cfg.HTTPConfig)
		}
	}
}

func TestHTTPConfigValidation(t *testing.T) {
	cases := []struct {
		name string
		mod  func(*agent.HTTPConfig, *agent.LimitsConfig)
		ok   bool
	}{
		{"defaults", func(*agent.HTTPConfig, *agent.LimitsConfig) {}, true},
		{"host with a port", func(h *agent.HTTPConfig, _ *agent.LimitsConfig) { h.AllowedHosts = []string{"a.example:80"} }, true},
		{"wildcard", func(h *agent.HTTPConfig, _ *agent.LimitsConfig) { h.AllowedHosts = []string{"*"} }, true},
		{"url", func(h *agent.HTTPConfig, _ *agent.LimitsConfig) { h.AllowedHosts = []string{"http://a.example"} }, false},
		{"empty host", func(h *agent.HTTPConfig, _ *agent.LimitsConfig) { h.AllowedHosts = []string{""} }, false},
		{"space", func(h *agent.HTTPConfig, _ *agent.LimitsConfig) { h.AllowedHosts = []string{"a b"} }, false},
		{"per client above total", func(h *agent.HTTPConfig, _ *agent.LimitsConfig) { h.MaxConnsPerClient = h.MaxConns + 1 }, false},
		{"no connections", func(h *agent.HTTPConfig, _ *agent.LimitsConfig) { h.MaxConns = 0 }, false},
		{"body timeout 1ms", func(h *agent.HTTPConfig, _ *agent.LimitsConfig) { h.BodyTimeout = time.Millisecond }, false},
		{"idle timeout 1ms", func(h *agent.HTTPConfig, _ *agent.LimitsConfig) { h.IdleTimeout = time.Millisecond }, false},
		{"idle timeout 2h", func(h *agent.HTTPConfig, _ *agent.LimitsConfig) { h.IdleTimeout = 2 * time.Hour }, false},
		{"idle timeout 30s", func(h *agent.HTTPConfig, _ *agent.LimitsConfig) { h.IdleTimeout = 30 * time.Second }, true},
		{"no instances", func(_ *agent.HTTPConfig, l *agent.LimitsConfig) { l.Instances = 0 }, false},
		{"negative checks", func(_ *agent.HTTPConfig, l *agent.LimitsConfig) { l.Checks = -1 }, false},
	}
	for _, tc := range cases {
		cfg := agent.DefaultConfig()
		cfg.Node = "n"
		tc.mod(&cfg.HTTPConfig, &cfg.Limits)
		if err := cfg.Validate(); (err == nil) != tc.ok {
			t.Errorf("%s: Validate = %v, want ok %v", tc.name, err, tc.ok)
		}
	}
}
