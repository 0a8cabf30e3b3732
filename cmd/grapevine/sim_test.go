package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// grapevine sim runs grapevine-sim with its arguments and passes its exit
// code on; here a stand-in script plays grapevine-sim.
func TestSimRunsSimProgram(t *testing.T) {
	dir := t.TempDir()
	fake := filepath.Join(dir, "grapevine-sim")
	script := "#!/bin/sh\necho \"args: $*\"\necho err >&2\nexit 4\n"
	if err := os.WriteFile(fake, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("GRAPEVINE_SIM", fake)
	var out, errb bytes.Buffer
	code := run([]string{"grapevine", "sim", "run", "x.yaml", "-seed", "5"}, &out, &errb)
	if code != 4 || !strings.Contains(out.String(), "args: run x.yaml -seed 5") || !strings.Contains(errb.String(), "err") {
		t.Errorf("exit %d, want 4; stdout %q; stderr %q", code, out.String(), errb.String())
	}
}

func TestSimProgramMissing(t *testing.T) {
	t.Setenv("GRAPEVINE_SIM", "")
	t.Setenv("PATH", t.TempDir())
	var out, errb bytes.Buffer
	code := run([]string{"grapevine", "sim", "run", "x.yaml"}, &out, &errb)
	if code != exitFailure || !strings.Contains(errb.String(), "grapevine-sim not found") {
		t.Errorf("exit %d, want %d; stderr %q", code, exitFailure, errb.String())
	}
}
