package main

import (
	"bytes"
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/grapevine-sd/grapevine/agent/agenttest"
)

// grapevine keyring against a real keyed agent: install from a file, use,
// list, remove; removing the primary and a malformed key are refused.
func TestKeyringCommand(t *testing.T) {
	oldKey := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{1}, 32))
	newKey := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{2}, 32))
	cfg := agenttest.Config(t, "node-a")
	cfg.InsecureGossip, cfg.Encrypt = false, oldKey
	a := agenttest.Start(t, cfg)
	keyFile := filepath.Join(t.TempDir(), "new.key")
	if err := os.WriteFile(keyFile, []byte(newKey+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cli := func(args ...string) (int, string, string) {
		var out, errb bytes.Buffer
		code := run(append([]string{"grapevine", "keyring"}, append(args, "-http", a.HTTPAddr())...), &out, &errb)
		return code, out.String(), errb.String()
	}
	for _, tt := range []struct {
		args     []string
		code     int
		out, err string
	}{
		{[]string{"install", "-file", keyFile}, exitOK, "installed on 1/1 agents", ""},
		{[]string{"use", newKey}, exitOK, "now primary on 1/1 agents", ""},
		{[]string{"list"}, exitOK, newKey + "  1/1     1", ""},
		{[]string{"remove", newKey}, exitFailure, "", "primary"},
		{[]string{"remove", oldKey}, exitOK, "removed on 1/1 agents", ""},
		{[]string{"install", "AAAA"}, exitUsage, "", "3 bytes"},
		{[]string{"install"}, exitUsage, "", "KEY"},
		{[]string{"install", "-file", keyFile, newKey}, exitUsage, "", "not both"},
	} {
		code, out, errOut := cli(tt.args...)
		if code != tt.code || !strings.Contains(out, tt.out) || !strings.Contains(errOut, tt.err) {
			t.Errorf("keyring %v: exit %d, stdout %q, stderr %q; want exit %d, stdout with %q, stderr with %q",
				tt.args, code, out, errOut, tt.code, tt.out, tt.err)
		}
	}
}
