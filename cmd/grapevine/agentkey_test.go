package main

import (
	"bytes"
	"strings"
	"testing"
)

// `grapevine agent` without a gossip key refuses to start and says how to
// make one and where it goes.
func TestAgentRefusesWithoutKey(t *testing.T) {
	var out, errb bytes.Buffer
	code := run([]string{"grapevine", "agent", "-node", "n1", "-bind", "127.0.0.1:0", "-http", "", "-dns", "", "-data-dir", t.TempDir()}, &out, &errb)
	if code == exitOK {
		t.Fatalf("agent without a key exited 0; stderr:\n%s", errb.String())
	}
	for _, want := range []string{"no gossip encryption key", "grapevine keygen", "-encrypt-file", "-insecure-gossip"} {
		if !strings.Contains(errb.String(), want) {
			t.Errorf("stderr lacks %q:\n%s", want, errb.String())
		}
	}
}
