package dnsserver

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

type fileShape struct {
	DNS Config `yaml:"dns"`
}

func decode(t *testing.T, doc string) (Config, error) {
	t.Helper()
	f := fileShape{DNS: DefaultConfig()}
	dec := yaml.NewDecoder(bytes.NewReader([]byte(doc)))
	dec.KnownFields(true)
	err := dec.Decode(&f)
	return f.DNS, err
}

func TestConfigYAML(t *testing.T) {
	tests := []struct {
		doc     string
		check   func(Config) bool
		wantErr string
	}{
		{"dns: 127.0.0.1:53\n", func(c Config) bool { return c.Addr == "127.0.0.1:53" && c.MaxUDPSize == 1232 }, ""},
		{"dns: \"\"\n", func(c Config) bool { return c.Addr == "" }, ""},
		{"dns:\n  addr: 127.0.0.2:53\n  domains: [grapevine, consul.]\n  service_ttl: 10s\n  rate_limit:\n    per_second: 50\n",
			func(c Config) bool {
				return c.Addr == "127.0.0.2:53" && len(c.Domains) == 2 && c.ServiceTTL == 10*time.Second &&
					c.RateLimit.PerSecond == 50 && c.RateLimit.Slip == 2 && c.NodeTTL == 30*time.Second
			}, ""},
		{"dns:\n  rate_limit: 20\n", func(c Config) bool { return c.RateLimit.PerSecond == 20 && c.RateLimit.Table == 1<<16 }, ""},
		{"dns:\n  adr: x\n", nil, "field adr not found"},
		{"dns:\n  rate_limit:\n    persecond: 1\n", nil, "field persecond not found"},
		{"dns: [a]\n", nil, "want an address or a mapping"},
	}
	for _, tt := range tests {
		c, err := decode(t, tt.doc)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("%q: error %v, want %q", tt.doc, err, tt.wantErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("%q: %v", tt.doc, err)
			continue
		}
		if !tt.check(c) {
			t.Errorf("%q: got %+v", tt.doc, c)
		}
	}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name   string
		modify func(*Config)
		ok     bool
	}{
		{"default", func(*Config) {}, true},
		{"consul added", func(c *Config) { c.Domains = append(c.Domains, "Consul") }, true},
		{"root", func(c *Config) { c.Domains = []string{"."} }, false},
		{"no domains", func(c *Config) { c.Domains = nil }, false},
		{"overlap", func(c *Config) { c.Domains = []string{"grapevine.", "a.grapevine."} }, false},
		{"duplicate", func(c *Config) { c.Domains = []string{"grapevine.", "GRAPEVINE"} }, false},
		{"bad label", func(c *Config) { c.Domains = []string{"a_b."} }, false},
		{"udp size small", func(c *Config) { c.MaxUDPSize = 100 }, false},
		{"udp size big", func(c *Config) { c.MaxUDPSize = 70000 }, false},
		{"negative ttl", func(c *Config) { c.ServiceTTL = -time.Second }, false},
		{"huge ttl", func(c *Config) { c.NodeTTL = 48 * time.Hour }, false},
		{"answer limit", func(c *Config) { c.UDPAnswerLimit = -1 }, false},
		{"bad addr", func(c *Config) { c.Addr = "nope" }, false},
		{"host name addr", func(c *Config) { c.Addr = "example.com:53" }, false},
		{"rrl prefix", func(c *Config) { c.RateLimit.IPv4PrefixLen = 33 }, false},
		{"rrl table", func(c *Config) { c.RateLimit.Table = 0 }, false},
	}
	for _, tt := range tests {
		c := DefaultConfig()
		tt.modify(&c)
		err := c.Validate()
		if (err == nil) != tt.ok {
			t.Errorf("%s: Validate() = %v, want ok %v", tt.name, err, tt.ok)
		}
		if err != nil && !errors.Is(err, ErrConfig) {
			t.Errorf("%s: error %v does not wrap ErrConfig", tt.name, err)
		}
	}
	c := DefaultConfig()
	c.Domains = []string{"Consul", "grapevine."}
	if err := c.Validate(); err != nil || c.Domains[0] != "consul." {
		t.Errorf("domains not normalized: %v %v", c.Domains, err)
	}
}

// FuzzConfigYAML: any dns section decodes to an error or a config whose
// Validate does not panic.
func FuzzConfigYAML(f *testing.F) {
	f.Add("dns: 127.0.0.1:53\n")
	f.Add("dns:\n  addr: 127.0.0.1:0\n  domains: [grapevine, consul]\n  rate_limit: {per_second: 5}\n")
	f.Add("dns: {max_udp_size: 70000, service_ttl: -1s}\n")
	f.Add("dns: &a [*a]\n")
	f.Fuzz(func(t *testing.T, doc string) {
		c, err := decode(t, doc)
		if err != nil {
			return
		}
		if c.Validate() == nil {
			for _, d := range c.Domains {
				if _, err := normalizeDomain(d); err != nil || !strings.HasSuffix(d, ".") {
					t.Fatalf("valid config with domain %q", d)
				}
			}
		}
	})
}
