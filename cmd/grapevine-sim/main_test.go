package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestRun(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.yaml")
	bad := filepath.Join(dir, "bad.yaml")
	os.WriteFile(good, []byte("name: tiny\nnodes: 2\nsteps:\n  - register: {nodes: [all], service: web}\n  - wait: {until: converged, timeout: 20s}\n  - assert: [converged, no_lost]\n"), 0o644)
	os.WriteFile(bad, []byte("name: bad\nsteps:\n  - heal: {}\n  - crash: {nodes: [node1]}\n"), 0o644)
	tests := []struct {
		name string
		args []string
		code int
		out  string
		err  string
	}{
		{"pass", []string{"run", good, "-seed", "5", "-report", filepath.Join(dir, "rep")}, exitOK, "scenario tiny: PASS (seed 5", ""},
		{"no file", []string{"run"}, exitUsage, "", "one scenario FILE"},
		{"two files", []string{"run", good, good}, exitUsage, "", "got 2"},
		{"bad seed", []string{"run", good, "-seed", "x"}, exitUsage, "", "-seed \"x\""},
		{"bad progress", []string{"run", good, "-progress", "loud"}, exitUsage, "", "-progress"},
		{"invalid scenario", []string{"run", bad}, exitUsage, "", bad + ":4: invalid scenario: step 1 (crash): nodes: selector \"node1\""},
		{"missing file", []string{"run", filepath.Join(dir, "nope.yaml")}, exitHarness, "", "no such file"},
		{"check", []string{"check", good}, exitOK, "good.yaml: ok (tiny: 2 nodes, 3 steps)", ""},
		{"check bad", []string{"check", good, bad}, exitUsage, "", "1 of 2 scenarios invalid"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			code := run(context.Background(), append([]string{"grapevine-sim"}, tt.args...), &out, &errb)
			if code != tt.code || !strings.Contains(out.String(), tt.out) || !strings.Contains(errb.String(), tt.err) {
				t.Errorf("exit %d, want %d; stdout %q; stderr %q", code, tt.code, out.String(), errb.String())
			}
		})
	}
	if _, err := os.Stat(filepath.Join(dir, "rep", "index.html")); err != nil {
		t.Errorf("report: %v", err)
	}
}

// A cancelled run (SIGINT) stops, prints the partial summary and writes the
// partial report; exit 4.
func TestRunInterrupted(t *testing.T) {
	dir := t.TempDir()
	f := filepath.Join(dir, "long.yaml")
	os.WriteFile(f, []byte("name: long\nnodes: 3\nsteps:\n  - register: {nodes: [all], service: web}\n  - wait: {for: 10h}\n"), 0o644)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var exited []int
	exitNow = func(code int) { exited = append(exited, code) }
	defer func() { exitNow = os.Exit }()
	var out, errb bytes.Buffer
	code := run(ctx, []string{"grapevine-sim", "run", f, "-report", filepath.Join(dir, "rep")}, &out, &errb)
	if code != exitInterrupted || !strings.Contains(out.String(), "scenario long") || !strings.Contains(errb.String(), "interrupted") {
		t.Errorf("exit %d, want %d; stdout %q; stderr %q", code, exitInterrupted, out.String(), errb.String())
	}
	if _, err := os.Stat(filepath.Join(dir, "rep", "index.html")); err != nil {
		t.Errorf("partial report: %v", err)
	}
	if !slices.Equal(exited, []int{exitInterrupted}) || strings.Count(out.String(), "scenario long") != 1 {
		t.Errorf("exits %v, want [%d] once the report was written; stdout %q", exited, exitInterrupted, out.String())
	}
}

func TestPermute(t *testing.T) {
	got := permute([]string{"p", "run", "f.yaml", "-seed", "3", "-realtime", "-report", "d"})
	want := []string{"p", "run", "-seed", "3", "-realtime", "-report", "d", "f.yaml"}
	if !slices.Equal(got, want) {
		t.Errorf("permute = %q, want %q", got, want)
	}
}

func TestSpeedOf(t *testing.T) {
	for _, tt := range []struct {
		sim, wall time.Duration
		want      string
	}{
		{36500 * time.Millisecond, 10 * time.Second, "3.6×"},
		{time.Second, 10 * time.Second, "0.1×"},
		{8 * time.Second, 280 * time.Second, "0.029×"},
		{0, time.Second, "0.0×"},
	} {
		if got := speedOf(tt.sim, tt.wall); got != tt.want {
			t.Errorf("speedOf(%v, %v) = %q, want %q", tt.sim, tt.wall, got, tt.want)
		}
	}
}
