//go:build simfull

package sim

import (
	"path/filepath"
	"strings"
	"testing"
)

// TestScenarioFull runs every library scenario at full size (make sim).
func TestScenarioFull(t *testing.T) {
	for _, f := range scenarioFiles(t) {
		name := strings.TrimSuffix(filepath.Base(f), ".yaml")
		t.Run(name, func(t *testing.T) {
			sc, err := Load(f)
			if err != nil {
				t.Fatal(err)
			}
			rep := runStack(t, sc, knownBugs[name] == "")
			checkKnownBug(t, name, rep)
		})
	}
}
