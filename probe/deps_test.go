package probe

import (
	"go/build"
	"strings"
	"testing"
)

// TestStandsAlone: probe imports nothing of the project (docs/design.md).
func TestStandsAlone(t *testing.T) {
	pkg, err := build.ImportDir(".", 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, path := range pkg.Imports { // non-test files only
		if strings.HasPrefix(path, "github.com/grapevine-sd/grapevine") {
			t.Errorf("probe imports %s: it must stand alone", path)
		}
	}
}
