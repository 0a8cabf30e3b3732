package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestSimRun(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.yaml")
	bad := filepath.Join(dir, "bad.yaml")
	os.WriteFile(good, []byte("name: tiny\nnodes: 2\nsteps:\n  - register: {nodes: [all], service: web}\n  - wait: {until: converged, timeout: 20s}\n  - assert: [converged, no_lost]\n"), 0o644)
	os.WriteFile(bad, []byte("name: bad\nsteps:\n  - crash: {nodes: [node1]}\n"), 0o644)
	tests := []struct {
		name string
		args []string
		code int
		out  string
	}{
		{"pass", []string{"sim", "run", good, "-seed", "5", "-report", filepath.Join(dir, "rep")}, exitOK, "scenario tiny: PASS (seed 5"},
		{"no file", []string{"sim", "run"}, exitUsage, ""},
		{"two files", []string{"sim", "run", good, good}, exitUsage, ""},
		{"bad seed", []string{"sim", "run", good, "-seed", "x"}, exitUsage, ""},
		{"invalid scenario", []string{"sim", "run", bad}, exitUsage, ""},
		{"missing file", []string{"sim", "run", filepath.Join(dir, "nope.yaml")}, exitFailure, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			code := run(append([]string{"grapevine"}, tt.args...), &out, &errb)
			if code != tt.code || !strings.Contains(out.String(), tt.out) {
				t.Errorf("exit %d, want %d; stdout %q; stderr %q", code, tt.code, out.String(), errb.String())
			}
		})
	}
	if _, err := os.Stat(filepath.Join(dir, "rep", "index.html")); err != nil {
		t.Errorf("report: %v", err)
	}
}
