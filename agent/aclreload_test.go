package agent_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/grapevine-sd/grapevine/agent/agenttest"
)

// Reload (SIGHUP) re-reads the acl section of the config file and the secret
// files: tokens are added, removed, rotated and re-scoped, and the default
// policy changes, without a restart. A file that does not parse, an acl
// section that does not validate, a missing secret file or a change of
// acl.enabled is an error that names the problem and keeps every token as it
// was.
func TestACLReloadFromConfigFile(t *testing.T) {
	dir := t.TempDir()
	conf := filepath.Join(dir, "agent.yaml")
	readerFile := filepath.Join(dir, "reader.token")
	write := func(path, body string) {
		t.Helper()
		if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	aclDoc := func(defaultPolicy, tokens string) string {
		return "acl:\n  enabled: true\n  default_policy: " + defaultPolicy + "\n  tokens:\n" + tokens
	}
	const (
		ops    = "    - {name: ops, secret: " + secOper + ", policy: operator}\n"
		reader = "    - {name: reader, secret_file: READER, policy: read}\n"
		web    = "    - {name: web-deployer, secret: " + secWeb + ", policy: write, services: [web]}\n"
	)
	readerTok := strings.ReplaceAll(reader, "READER", readerFile)
	write(readerFile, secRead+"\n")
	write(conf, aclDoc("deny", ops+readerTok))

	cfg := agenttest.Config(t, "node-a")
	if err := cfg.LoadFile(conf); err != nil {
		t.Fatal(err)
	}
	if cfg.ConfigFile != conf {
		t.Fatalf("ConfigFile %q, want %q", cfg.ConfigFile, conf)
	}
	a := agenttest.Start(t, cfg)
	base := "http://" + a.HTTPAddr()
	read := func(tok string) int {
		code, _ := call(t, "GET", base+"/v1/agent/self", tok, "")
		return code
	}
	register := func(tok string) int {
		code, _ := call(t, "PUT", base+"/v1/agent/services", tok, `{"name":"web","id":"web-1","port":80}`)
		return code
	}
	const rotated = "reader-rotated-0123456789"
	// grant is what a secret may do after a step: GET /v1/agent/self, PUT a
	// web instance (status codes).
	type grant struct {
		tok        string
		read, regs int
	}
	steps := []struct {
		name    string
		conf    string // "" keeps the file
		reader  string // "" keeps the secret file; "-" removes it
		wantErr string // "" for none
		checks  []grant
	}{
		{name: "secret file rotated", reader: rotated + "\n", checks: []grant{{secRead, 401, 401}, {rotated, 200, 403}, {secOper, 200, 200}, {"", 401, 401}}},
		{name: "token added", conf: aclDoc("deny", ops+readerTok+web), checks: []grant{{secWeb, 200, 200}, {rotated, 200, 403}}},
		{name: "token removed", conf: aclDoc("deny", readerTok+web), checks: []grant{{secOper, 401, 401}, {secWeb, 200, 200}}},
		{name: "policy changed", conf: aclDoc("deny", strings.ReplaceAll(readerTok, "policy: read", "policy: operator")+web), checks: []grant{{rotated, 200, 200}}},
		{name: "default policy allow", conf: aclDoc("allow", readerTok+web), checks: []grant{{"", 200, 401}, {rotated, 200, 403}}},
		{name: "file does not parse", conf: "acl: [\n", wantErr: "tokens in force stay", checks: []grant{{"", 200, 401}, {rotated, 200, 403}, {secWeb, 200, 200}}},
		{name: "write token without services", conf: aclDoc("deny", readerTok+"    - {name: w, secret: w-secret-0123456789, policy: write}\n"), wantErr: "needs services", checks: []grant{{"", 200, 401}, {"w-secret-0123456789", 401, 401}, {secWeb, 200, 200}}},
		{name: "secret file missing", conf: aclDoc("deny", readerTok+web), reader: "-", wantErr: "secret_file", checks: []grant{{"", 200, 401}, {rotated, 200, 403}}},
		{name: "acl turned off", conf: "acl:\n  enabled: false\n", reader: rotated, wantErr: "takes a restart", checks: []grant{{"", 200, 401}, {rotated, 200, 403}}},
		{name: "two tokens share a secret", conf: aclDoc("deny", readerTok+strings.ReplaceAll(web, secWeb, rotated)), wantErr: "same secret", checks: []grant{{"", 200, 401}, {secWeb, 200, 200}}},
		{name: "fixed again", conf: aclDoc("deny", readerTok+web), checks: []grant{{"", 401, 401}, {rotated, 200, 403}, {secWeb, 200, 200}}},
	}
	for _, s := range steps {
		if s.conf != "" {
			write(conf, s.conf)
		}
		switch s.reader {
		case "":
		case "-":
			if err := os.Remove(readerFile); err != nil {
				t.Fatal(err)
			}
		default:
			write(readerFile, s.reader)
		}
		err := a.Reload()
		switch {
		case s.wantErr == "" && err != nil:
			t.Fatalf("%s: reload: %v", s.name, err)
		case s.wantErr != "" && (err == nil || !strings.Contains(err.Error(), s.wantErr)):
			t.Fatalf("%s: reload error %v, want one about %q", s.name, err, s.wantErr)
		}
		for _, c := range s.checks {
			if got := read(c.tok); got != c.read {
				t.Errorf("%s: GET with %q: %d, want %d", s.name, c.tok, got, c.read)
			}
			if got := register(c.tok); got != c.regs {
				t.Errorf("%s: PUT with %q: %d, want %d", s.name, c.tok, got, c.regs)
			}
		}
	}
}
