package sim

import (
	"path/filepath"
	"strings"
	"testing"
)

// scenarioFiles returns the library of scenarios in sim/scenarios.
func scenarioFiles(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("scenarios", "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no scenarios: %v", err)
	}
	return files
}

// knownBugs are library scenarios that expose open bugs: they run, and a
// failure is reported as a skip naming the bug, until the fix lands (then the
// test asks for the entry to be removed).
var knownBugs = map[string]string{
	// The epoch-* and joiner-* scenarios were listed here (issue 10, product
	// bugs 1-3) until the catalog's fixes landed.
}

// checkKnownBug turns a known bug's failure into a skip, and its success
// into an error asking to remove the entry.
func checkKnownBug(t *testing.T, name string, rep Report) {
	t.Helper()
	bug := knownBugs[name]
	if bug == "" {
		return
	}
	if rep.Passed() {
		t.Errorf("known bug no longer reproduces, remove it from knownBugs: %s", bug)
	} else {
		t.Skipf("known bug: %s", bug)
	}
}

// TestScenarioShort runs the short version of every library scenario that
// has one over real catalog+gossip nodes, in virtual time. The others run
// only at full size (make sim).
func TestScenarioShort(t *testing.T) {
	for _, f := range scenarioFiles(t) {
		name := strings.TrimSuffix(filepath.Base(f), ".yaml")
		t.Run(name, func(t *testing.T) {
			sc, err := Load(f)
			if err != nil {
				t.Fatal(err)
			}
			if sc.Short == nil {
				t.Skipf("%s has no short version: it runs in make sim", f)
			}
			rep := runStack(t, sc.Shrunk(), knownBugs[name] == "")
			checkKnownBug(t, name, rep)
		})
	}
}
