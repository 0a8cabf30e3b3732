package main

import (
	"bytes"
	"strings"
	"testing"
)

func TestVersion(t *testing.T) {
	var out, errb bytes.Buffer
	if code := run([]string{"grapevine", "version"}, &out, &errb); code != exitOK {
		t.Fatalf("exit %d, stderr %q", code, errb.String())
	}
	if !strings.HasPrefix(out.String(), "grapevine ") || !strings.Contains(out.String(), "protocol 1") {
		t.Errorf("got %q", out.String())
	}
}

func TestUnknownFlagIsUsageError(t *testing.T) {
	var out, errb bytes.Buffer
	if code := run([]string{"grapevine", "version", "-nope"}, &out, &errb); code != exitUsage {
		t.Errorf("exit %d, want %d (stderr %q)", code, exitUsage, errb.String())
	}
}

// Every app gets fresh commands: urfave/cli edits a command when an app runs
// it, and shared commands made each later help page's header longer.
func TestHelpIsTheSameEveryRun(t *testing.T) {
	var first string
	for i := range 3 {
		var out, errb bytes.Buffer
		if code := run([]string{"grapevine", "lookup", "-h"}, &out, &errb); code != exitOK {
			t.Fatalf("exit %d: %s", code, errb.String())
		}
		if i == 0 {
			first = out.String()
			if !strings.Contains(first, "grapevine lookup") {
				t.Fatalf("help lacks the command name:\n%s", first)
			}
		} else if out.String() != first {
			t.Fatalf("help of run %d differs from the first:\n%s\n--- first\n%s", i+1, out.String(), first)
		}
	}
}
