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
