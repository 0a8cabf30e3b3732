package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
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

// TestMain runs the program itself when a test starts this binary as a
// child with GRAPEVINE_SIM_MAIN=1 (the arguments follow "--").
func TestMain(m *testing.M) {
	if os.Getenv("GRAPEVINE_SIM_MAIN") == "1" {
		i := slices.Index(os.Args, "--")
		os.Args = append([]string{"grapevine-sim"}, os.Args[i+1:]...)
		main()
		return
	}
	os.Exit(m.Run())
}

// A second SIGINT quits at once, and still removes the run's data
// directories (in /dev/shm, which outlives the process).
func TestSecondInterruptLeavesNoDataDir(t *testing.T) {
	dir := t.TempDir()
	f := filepath.Join(dir, "long.yaml")
	os.WriteFile(f, []byte("name: long\nnodes: 20\nsteps:\n  - register: {nodes: [all], service: web}\n  - wait: {for: 10h}\n"), 0o644)
	for round := range 3 {
		cmd := exec.Command(os.Args[0], "-test.run=^$", "--", "run", f, "-progress", "off")
		cmd.Env = append(os.Environ(), "GRAPEVINE_SIM_MAIN=1")
		stderr, err := cmd.StderrPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		// The lines of stderr, as they come. finish reads the rest (the
		// pipe's reads end before Wait, as Wait requires) and waits; on a
		// failure the cleanup kills the child first.
		lines := make(chan string, 100)
		go func() {
			defer close(lines)
			sc := bufio.NewScanner(stderr)
			for sc.Scan() {
				lines <- sc.Text()
			}
		}()
		finish := sync.OnceValue(func() error {
			for range lines {
			}
			return cmd.Wait()
		})
		t.Cleanup(func() {
			_ = cmd.Process.Kill() // an error once it exited
			_ = finish()
		})
		waitFor := func(what string) {
			t.Helper()
			timeout := time.After(20 * time.Second)
			for {
				select {
				case l, ok := <-lines:
					if !ok {
						t.Fatalf("round %d: stderr ended before %q", round, what)
					}
					if strings.Contains(l, what) {
						return
					}
				case <-timeout:
					t.Fatalf("round %d: no %q on stderr after 20 s", round, what)
				}
			}
		}
		pattern := filepath.Join(memDir(), fmt.Sprintf("grapevine-sim-%d-*", cmd.Process.Pid))
		waitFor([]string{"step -1 start", "step 0 register", "step 1 wait"}[round])
		_ = cmd.Process.Signal(os.Interrupt)
		waitFor("signal again to quit at once")
		_ = cmd.Process.Signal(os.Interrupt) // while the run stops
		err = finish()
		var ee *exec.ExitError
		if !errors.As(err, &ee) || (ee.ExitCode() != 130 && ee.ExitCode() != exitInterrupted) {
			t.Errorf("round %d: %v, want exit 130 (or %d, if the run ended first)", round, err, exitInterrupted)
		}
		if m, _ := filepath.Glob(pattern); len(m) > 0 {
			t.Errorf("round %d: left behind: %v (%v)", round, m, err)
			for _, d := range m {
				os.RemoveAll(d)
			}
		}
	}
}

// memDir is where a run makes its data directory: sim's memTempDir.
func memDir() string {
	if fi, err := os.Stat("/dev/shm"); err == nil && fi.IsDir() {
		return "/dev/shm"
	}
	return os.TempDir()
}
