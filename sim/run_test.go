package sim

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/synctest"
	"time"
)

// runFake runs a scenario over fake nodes inside a synctest bubble.
func runFake(t *testing.T, yml string, bugs fakeBugs, reportDir string) Report {
	t.Helper()
	sc, err := Parse([]byte(yml))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	var rep Report
	var log bytes.Buffer
	synctest.Test(t, func(t *testing.T) {
		w := &fakeWorld{bugs: bugs}
		rep, err = Run(context.Background(), sc, Options{
			Factory: w.factory, Bounds: fakeBounds, Log: &log, DataDir: t.TempDir(),
			ReportDir: reportDir, Drain: time.Second,
		})
	})
	if err != nil {
		t.Fatalf("Run: %v\nlog:\n%s", err, log.String())
	}
	if testing.Verbose() {
		var b bytes.Buffer
		_ = rep.WriteText(&b)
		t.Logf("\n%s", b.String())
	}
	return rep
}

func invariant(rep Report, name string) InvariantResult {
	for _, inv := range rep.Invariants {
		if inv.Name == name {
			return inv
		}
	}
	return InvariantResult{}
}

const basicScenario = `
name: basic
seed: 7
nodes: 6
steps:
  - register: {nodes: [all], service: web}
  - register: {nodes: ["random 2"], service: db, count: 2}
  - wait: {until: propagated, timeout: 20s}
  - partition: {groups: [["first 50%"], [rest]]}
  - register: {nodes: [n0], service: api}
  - deregister: {nodes: [n5], service: web}
  - wait: {for: 10s}
  - heal: {}
  - wait: {until: converged, timeout: 30s}
  - health: {nodes: [n1], service: web, status: critical}
  - wait: {until: propagated, timeout: 20s}
  - crash: {nodes: [n4]}
  - wait: {for: 10s}
  - restart: {nodes: [crashed]}
  - restart: {nodes: [n3], wipe: true}
  - wait: {until: converged, timeout: 30s}
  - assert: [converged, no_lost, no_resurrection, lease_bound, stale_over_empty]
`

func TestRunBasicFake(t *testing.T) {
	dir := t.TempDir()
	rep := runFake(t, basicScenario, fakeBugs{}, dir)
	if !rep.Passed() {
		var b bytes.Buffer
		_ = rep.WriteText(&b)
		t.Fatalf("want all invariants to pass:\n%s", b.String())
	}
	for _, name := range []string{G1, G2, G3, G4} {
		if !invariant(rep, name).Checked {
			t.Errorf("%s not exercised", name)
		}
	}
	if rep.Propagation.N == 0 || rep.Propagation.Max <= 0 {
		t.Errorf("propagation = %v, want samples", rep.Propagation)
	}
	if len(rep.Convergence) == 0 {
		t.Errorf("no convergence time after heal")
	}
	if rep.MsgsPerNodeSec <= 0 || rep.BytesPerNodeSec <= 0 {
		t.Errorf("traffic %v msgs/s %v B/s, want > 0", rep.MsgsPerNodeSec, rep.BytesPerNodeSec)
	}
	b, err := os.ReadFile(filepath.Join(dir, "index.html"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"<svg", "PASS", "G3 no resurrection"} {
		if !bytes.Contains(b, []byte(want)) {
			t.Errorf("report lacks %q", want)
		}
	}
}

// The checker must catch broken nodes.
func TestCheckerCatchesBugs(t *testing.T) {
	tests := []struct {
		name string
		bugs fakeBugs
		yml  string
		want string
	}{
		{"resurrection", fakeBugs{resurrect: true}, `
name: resurrect
nodes: 4
steps:
  - register: {nodes: [all], service: web}
  - wait: {until: propagated, timeout: 10s}
  - deregister: {nodes: [n1], service: web}
  - wait: {for: 5s}
  - assert: [no_resurrection]
`, G3},
		{"no expiry", fakeBugs{noExpire: true}, `
name: noexpire
nodes: 6
steps:
  - register: {nodes: [all], service: web}
  - wait: {until: propagated, timeout: 10s}
  - crash: {nodes: [n2]}
  - wait: {for: 10s}
`, G4},
		{"no self-preservation", fakeBugs{noPreserve: true}, `
name: nopreserve
nodes: 6
steps:
  - register: {nodes: ["n3-n5"], service: web}
  - wait: {until: propagated, timeout: 10s}
  - crash: {nodes: ["last 50%"]}
  - wait: {for: 10s}
`, G5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rep := runFake(t, tt.yml, tt.bugs, "")
			got := invariant(rep, tt.want)
			if got.Violations == 0 {
				var b bytes.Buffer
				_ = rep.WriteText(&b)
				t.Fatalf("%s: got no violation, want some\n%s", tt.want, b.String())
			}
			for _, inv := range rep.Invariants {
				if inv.Name != tt.want && inv.Violations > 0 {
					t.Errorf("unexpected %s violations: %v", inv.Name, inv.Examples)
				}
			}
		})
	}
}

func TestRunNeedsFactory(t *testing.T) {
	sc, err := Parse([]byte("name: x\nnodes: 1\n"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Run(context.Background(), sc, Options{}); err != ErrNoFactory {
		t.Fatalf("got %v, want ErrNoFactory", err)
	}
}

func TestReportTextNamesEveryInvariant(t *testing.T) {
	rep := Report{Scenario: "x"}
	for _, n := range invariantOrder {
		rep.Invariants = append(rep.Invariants, InvariantResult{Name: n})
	}
	var b bytes.Buffer
	if err := rep.WriteText(&b); err != nil {
		t.Fatal(err)
	}
	for _, n := range invariantOrder {
		if !strings.Contains(b.String(), n) {
			t.Errorf("text lacks %q", n)
		}
	}
}
