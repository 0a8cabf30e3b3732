package agent_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/grapevine-sd/grapevine/agent"
	"github.com/grapevine-sd/grapevine/agent/agenttest"
	"github.com/grapevine-sd/grapevine/api"
)

// tlsClient is a client of addr with cfg's TLS and token settings.
func tlsClient(t *testing.T, addr string, cfg api.ClientConfig) (*api.Client, error) {
	t.Helper()
	cfg.Address = addr
	c, err := api.NewClient(cfg)
	if err == nil {
		t.Cleanup(c.CloseIdleConnections)
	}
	return c, err
}

func selfErr(t *testing.T, c *api.Client, err error) error {
	t.Helper()
	if err != nil {
		return err
	}
	_, err = c.Self(t.Context())
	c.CloseIdleConnections()
	return err
}

func TestTLSAndMutualTLS(t *testing.T) {
	pki := agenttest.NewTLSFiles(t, t.TempDir())
	other := agenttest.NewTLSFiles(t, t.TempDir()) // a CA the agent does not trust
	for _, verify := range []bool{false, true} {
		a, _, _ := single(t, func(c *agent.Config) {
			c.TLS = agent.TLSConfig{CertFile: pki.Cert, KeyFile: pki.Key, CAFile: pki.CA, VerifyIncoming: verify}
		})
		addr := a.HTTPAddr()
		cases := []struct {
			name string
			addr string
			cfg  api.ClientConfig
			ok   bool
		}{
			{"https with the CA and a client cert", "https://" + addr, api.ClientConfig{CAFile: pki.CA, ClientCert: pki.ClientCert, ClientKey: pki.ClientKey}, true},
			{"no scheme: https implied by the CA", addr, api.ClientConfig{CAFile: pki.CA, ClientCert: pki.ClientCert, ClientKey: pki.ClientKey}, true},
			{"https with the CA, no client cert", "https://" + addr, api.ClientConfig{CAFile: pki.CA}, !verify},
			{"client cert of another CA", "https://" + addr, api.ClientConfig{CAFile: pki.CA, ClientCert: other.ClientCert, ClientKey: other.ClientKey}, !verify},
			{"server not trusted", "https://" + addr, api.ClientConfig{CAFile: other.CA, ClientCert: pki.ClientCert, ClientKey: pki.ClientKey}, false},
			{"plain http", "http://" + addr, api.ClientConfig{}, false},
		}
		for _, tc := range cases {
			c, err := tlsClient(t, tc.addr, tc.cfg)
			if err := selfErr(t, c, err); (err == nil) != tc.ok {
				t.Errorf("verify_incoming %v, %s: err %v, want ok %v", verify, tc.name, err, tc.ok)
			}
		}
	}
}

func TestTLSReload(t *testing.T) {
	dir := t.TempDir()
	pki := agenttest.NewTLSFiles(t, dir)
	a, _, _ := single(t, func(c *agent.Config) { c.TLS = agent.TLSConfig{CertFile: pki.Cert, KeyFile: pki.Key} })
	next := agenttest.NewTLSFiles(t, t.TempDir())
	c, err := tlsClient(t, "https://"+a.HTTPAddr(), api.ClientConfig{CAFile: next.CA})
	if err := selfErr(t, c, err); err == nil {
		t.Fatal("the new CA verified the old certificate")
	}
	for _, f := range [][2]string{{next.Cert, pki.Cert}, {next.Key, pki.Key}} {
		b, err := os.ReadFile(f[0])
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(f[1], b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := a.Reload(); err != nil {
		t.Fatal(err)
	}
	if err := selfErr(t, c, nil); err != nil {
		t.Errorf("after reload: %v", err)
	}
	// A broken file on reload keeps the certificate in use.
	if err := os.WriteFile(pki.Cert, []byte("garbage"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := a.Reload(); err == nil || !strings.Contains(err.Error(), "tls") {
		t.Errorf("reload of a broken certificate: %v", err)
	}
	if err := selfErr(t, c, nil); err != nil {
		t.Errorf("after a failed reload: %v", err)
	}
}

func TestClientTokenAndTokenFile(t *testing.T) {
	pki := agenttest.NewTLSFiles(t, t.TempDir())
	a, _, _ := single(t, func(c *agent.Config) {
		c.TLS = agent.TLSConfig{CertFile: pki.Cert, KeyFile: pki.Key}
		c.ACL = aclConfig("deny")
	})
	file := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(file, []byte(secWeb+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	addr := "https://" + a.HTTPAddr()
	for _, cfg := range []api.ClientConfig{{Token: secWeb}, {TokenFile: file}} {
		cfg.CAFile = pki.CA
		c, err := tlsClient(t, addr, cfg)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.Register(t.Context(), api.Registration{Name: "web"}); err != nil {
			t.Errorf("%+v: register: %v", cfg, err)
		}
		_, err = c.Register(t.Context(), api.Registration{Name: "db"})
		if se := (*api.StatusError)(nil); !errors.As(err, &se) || se.Code != 403 {
			t.Errorf("%+v: register db: %v, want 403", cfg, err)
		}
	}
	t.Setenv(api.TokenEnv, secOper)
	c, err := tlsClient(t, addr, api.ClientConfig{CAFile: pki.CA})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Register(t.Context(), api.Registration{Name: "db"}); err != nil {
		t.Errorf("token from %s: %v", api.TokenEnv, err)
	}
	t.Setenv(api.TokenEnv, "")
	c, _ = tlsClient(t, addr, api.ClientConfig{CAFile: pki.CA})
	if _, err := c.Services(t.Context()); !errors.As(err, new(*api.StatusError)) || !strings.Contains(err.Error(), "needs a token") {
		t.Errorf("no token: %v, want 401", err)
	}
}

// TestDevDemoWithTokensAndTLS: the dev agent's demo check stays passing when
// the API needs tokens and speaks TLS.
func TestDevDemoWithTokensAndTLS(t *testing.T) {
	pki := agenttest.NewTLSFiles(t, t.TempDir())
	a, _, _ := single(t, func(c *agent.Config) {
		c.Dev = true
		c.HTTP = "127.0.0.1:0" // the demo checks the port the agent got
		c.ACL = aclConfig("deny")
		c.TLS = agent.TLSConfig{CertFile: pki.Cert, KeyFile: pki.Key}
	})
	// The first probe runs within the check's interval (10 s, splayed).
	agenttest.Eventually(t, 25*time.Second, func() (bool, string) {
		for _, cs := range a.CheckStates() {
			if cs.Instance == "demo" {
				return cs.Status == api.HealthPassing && strings.Contains(cs.Output, "200 OK"), fmt.Sprintf("demo check %s: %q", cs.Status, cs.Output)
			}
		}
		return false, "no demo check"
	})
}
