package crdt

import (
	"go/parser"
	"go/token"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestPure enforces the package's contract: standard library only, and nothing
// that does I/O, reads clocks, draws randomness or synchronizes goroutines.
func TestPure(t *testing.T) {
	forbidden := []string{"net", "os", "io", "time", "math/rand", "math/rand/v2", "sync", "syscall", "log", "unsafe"}
	files, _ := filepath.Glob("*.go")
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		ast, err := parser.ParseFile(token.NewFileSet(), f, nil, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range ast.Imports {
			path, _ := strconv.Unquote(imp.Path.Value)
			if strings.Contains(strings.Split(path, "/")[0], ".") {
				t.Errorf("%s imports %s: crdt uses the standard library only", f, path)
			}
			for _, bad := range forbidden {
				if path == bad || strings.HasPrefix(path, bad+"/") {
					t.Errorf("%s imports %s: crdt is pure", f, path)
				}
			}
		}
	}
}
