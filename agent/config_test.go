package agent

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
)

func TestDefaultConfigIsValid(t *testing.T) {
	c := DefaultConfig()
	c.Node = "n1"
	if err := c.Validate(); err != nil {
		t.Fatalf("DefaultConfig().Validate() = %v", err)
	}
}

func TestValidateRejects(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*Config)
		want   string
	}{
		{"empty node", func(c *Config) { c.Node = "" }, "node name"},
		{"space in node", func(c *Config) { c.Node = "a b" }, "unprintable"},
		{"bad bind", func(c *Config) { c.Bind = "nope" }, "bind"},
		{"bad port", func(c *Config) { c.HTTP = "127.0.0.1:99999" }, "http"},
		{"join without host", func(c *Config) { c.Join = []string{":7946"} }, "join"},
		{"short key", func(c *Config) { c.Encrypt = "AAAA" }, "encrypt"},
		{"not base64", func(c *Config) { c.Encrypt = "!!" }, "encrypt"},
		{"extra key without primary", func(c *Config) { c.EncryptKeys = []string{"AAAAAAAAAAAAAAAAAAAAAA=="} }, "primary"},
		{"bad extra key", func(c *Config) {
			c.Encrypt = "AAAAAAAAAAAAAAAAAAAAAA=="
			c.EncryptKeys = []string{"AAAA"}
		}, "encrypt_keys[0]"},
		{"log level", func(c *Config) { c.LogLevel = "loud" }, "log_level"},
		{"fanout", func(c *Config) { c.Gossip.Fanout = -1 }, "fanout"},
		{"rejoin backoff cap", func(c *Config) { c.Gossip.RejoinMaxWait = time.Second }, "rejoin_max_wait"},
		{"reap before grace", func(c *Config) { c.Leases.ReapAfter = time.Second }, "reap_after"},
		{"fraction", func(c *Config) { c.Leases.MassFailureFraction = 2 }, "mass_failure_fraction"},
	}
	for _, tt := range tests {
		c := DefaultConfig()
		c.Node = "n1"
		tt.mutate(&c)
		err := c.Validate()
		if !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: Validate() = %v, want ErrConfig mentioning %q", tt.name, err, tt.want)
		}
	}
}

func TestLoadFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "grapevine.yaml")
	const file = `# an agent
node: web-7        # comments are fine
zone: eu-1a
join: [10.1.0.1:7946, 10.1.0.2:7946]
gossip:
  fanout: 4
leases:
  grace: 45s
`
	if err := os.WriteFile(path, []byte(file), 0o600); err != nil {
		t.Fatal(err)
	}
	c := DefaultConfig()
	if err := c.LoadFile(path); err != nil {
		t.Fatal(err)
	}
	if c.Node != "web-7" || c.Zone != "eu-1a" || len(c.Join) != 2 || c.Gossip.Fanout != 4 ||
		c.Leases.Grace != 45*time.Second || c.HTTP != DefaultHTTPAddr {
		t.Errorf("loaded %+v", c)
	}
	if err := c.Validate(); err != nil {
		t.Errorf("Validate() = %v", err)
	}
}

func TestLoadRejectsUnknownKeysAndGarbage(t *testing.T) {
	for _, in := range []string{"nod: x\n", "gossip:\n  fanaut: 3\n", "node: [", "leases:\n  grace: soon\n"} {
		c := DefaultConfig()
		if err := c.load([]byte(in), "test"); !errors.Is(err, ErrConfig) {
			t.Errorf("load(%q) = %v, want ErrConfig", in, err)
		}
	}
	c := DefaultConfig()
	if err := c.load(nil, "empty"); err != nil {
		t.Errorf("empty file: %v", err)
	}
}

func FuzzLoadConfig(f *testing.F) {
	f.Add([]byte("node: a\ngossip:\n  fanout: 3\n"))
	f.Add([]byte("join: [a:1]\nleases: {grace: 1s}\n"))
	f.Add([]byte("&a [*a, *a, *a]"))
	f.Fuzz(func(t *testing.T, b []byte) {
		c := DefaultConfig()
		if err := c.load(b, "fuzz"); err != nil {
			return
		}
		_ = c.Validate() // must not panic on anything that decoded
	})
}

// Without a data directory the agent says, once, what will not survive a
// restart; with one (or in dev mode) it does not.
func TestWarnsWithoutDataDir(t *testing.T) {
	for _, tt := range []struct {
		name    string
		dataDir string
		want    bool
	}{{"none", "", true}, {"set", "DIR", false}} {
		t.Run(tt.name, func(t *testing.T) {
			var log strings.Builder
			c := DefaultConfig()
			c.Node = "n1"
			c.InsecureGossip = true
			c.Logger = zerolog.New(&log)
			if tt.dataDir != "" {
				c.DataDir = t.TempDir()
			}
			a, err := New(c)
			if err != nil {
				t.Fatal(err)
			}
			a.Close()
			if got := strings.Contains(log.String(), "no data_dir"); got != tt.want {
				t.Errorf("warned %v, want %v; log:\n%s", got, tt.want, log.String())
			}
		})
	}
}

// TestSyncIntervalZeroDisables: the agent passes gossip.sync_interval through, so 0
// means "off" in the agent exactly as in gossip.Config (not "the default").
func TestSyncIntervalZeroDisables(t *testing.T) {
	for _, tc := range []struct {
		in, want time.Duration
	}{{0, 0}, {time.Second, time.Second}} {
		cfg := DefaultConfig()
		cfg.Gossip.SyncInterval = tc.in
		a := &Agent{cfg: cfg}
		if got := a.gossipConfig().SyncInterval; got != tc.want {
			t.Errorf("sync_interval %v: gossip got %v, want %v", tc.in, got, tc.want)
		}
	}
}
