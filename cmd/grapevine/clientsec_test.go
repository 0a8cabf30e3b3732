package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/grapevine-sd/grapevine/agent"
	"github.com/grapevine-sd/grapevine/agent/agenttest"
)

// TestClientCommandsOverMutualTLSWithTokens drives the client commands,
// render and watch against a real agent that requires a client certificate
// and tokens, with flags and with the environment.
func TestClientCommandsOverMutualTLSWithTokens(t *testing.T) {
	dir := t.TempDir()
	pki := agenttest.NewTLSFiles(t, dir)
	cfg := agenttest.Config(t, "node-a")
	cfg.TLS = agent.TLSConfig{CertFile: pki.Cert, KeyFile: pki.Key, CAFile: pki.CA, VerifyIncoming: true}
	cfg.ACL = agent.ACLConfig{Enabled: true, DefaultPolicy: "deny", Tokens: []agent.TokenConfig{
		{Name: "deployer", Secret: "deployer-secret-0123456789", Policy: "write", Services: []string{"web"}},
		{Name: "reader", Secret: "reader-secret-0123456789", Policy: "read"},
	}}
	cfg.InsecureGossip = true
	a := agenttest.Start(t, cfg)
	addr := "https://" + a.HTTPAddr()
	tokenFile := filepath.Join(dir, "token")
	if err := os.WriteFile(tokenFile, []byte("deployer-secret-0123456789\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tlsFlags := []string{"-http", addr, "-ca-file", pki.CA, "-client-cert", pki.ClientCert, "-client-key", pki.ClientKey}
	cli := func(want int, args ...string) string {
		t.Helper()
		var out, errb bytes.Buffer
		code := run(append([]string{"grapevine"}, args...), &out, &errb)
		if code != want {
			t.Errorf("%v: exit %d, want %d; stderr %s", args, code, want, errb.String())
		}
		return out.String() + errb.String()
	}
	cli(exitOK, append([]string{"register", "-name", "web", "-port", "80", "-token-file", tokenFile}, tlsFlags...)...)
	if out := cli(exitFailure, append([]string{"register", "-name", "db", "-token-file", tokenFile}, tlsFlags...)...); !strings.Contains(out, "may not write") {
		t.Errorf("register db with a web token: %s", out)
	}
	if out := cli(exitFailure, append([]string{"services"}, tlsFlags...)...); !strings.Contains(out, "needs a token") {
		t.Errorf("services without a token: %s", out)
	}
	if out := cli(exitFailure, "services", "-http", addr, "-ca-file", pki.CA, "-token", "reader-secret-0123456789"); !strings.Contains(out, "unreachable") {
		t.Errorf("services without a client certificate: %s", out)
	}

	// The same through the environment.
	t.Setenv("GRAPEVINE_HTTP_ADDR", addr)
	t.Setenv("GRAPEVINE_CACERT", pki.CA)
	t.Setenv("GRAPEVINE_CLIENT_CERT", pki.ClientCert)
	t.Setenv("GRAPEVINE_CLIENT_KEY", pki.ClientKey)
	t.Setenv("GRAPEVINE_HTTP_TOKEN", "reader-secret-0123456789")
	if out := cli(exitOK, "lookup", "web"); !strings.Contains(out, "web") {
		t.Errorf("lookup: %s", out)
	}
	cli(exitFailure, "deregister", "web") // a read token
	cli(exitOK, "services", "-token-file", tokenFile)

	src, dest := filepath.Join(dir, "tmpl"), filepath.Join(dir, "out")
	if err := os.WriteFile(src, []byte(`{{range service "web"}}{{.ID}}:{{.Port}}{{end}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	cli(exitOK, "render", "-once", "-template", src+":"+dest)
	if b, _ := os.ReadFile(dest); string(b) != "web:80" {
		t.Errorf("render wrote %q", b)
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out, errb lockedBuffer
	done := make(chan int, 1)
	go func() { done <- runContext(ctx, []string{"grapevine", "watch", "web"}, &out, &errb) }()
	deadline := time.Now().Add(15 * time.Second)
	for !strings.Contains(out.String(), "web") {
		if time.Now().After(deadline) {
			t.Fatalf("watch printed nothing; stderr %s", errb.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	if code := <-done; code != exitOK {
		t.Errorf("watch exit %d: %s", code, errb.String())
	}
}

func TestAgentRefusesExposedHTTP(t *testing.T) {
	var out, errb bytes.Buffer
	code := run([]string{"grapevine", "agent", "-insecure-gossip", "-bind", "127.0.0.1:0", "-dns", "", "-http", "0.0.0.0:0",
		"-data-dir", t.TempDir()}, &out, &errb)
	if code != exitUsage || !strings.Contains(errb.String(), "-insecure-http") {
		t.Errorf("exit %d, stderr %q: want %d naming -insecure-http", code, errb.String(), exitUsage)
	}
}
