package repocheck

import (
	"bytes"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// executableMagic are the first bytes of the executables `go build` writes:
// ELF, Mach-O (32- and 64-bit, both byte orders) and PE.
var executableMagic = [][]byte{
	[]byte("\x7fELF"),
	{0xfe, 0xed, 0xfa, 0xce}, {0xce, 0xfa, 0xed, 0xfe},
	{0xfe, 0xed, 0xfa, 0xcf}, {0xcf, 0xfa, 0xed, 0xfe},
	[]byte("MZ"),
}

// isExecutable reports whether the file at p starts like a compiled program.
func isExecutable(p string) bool {
	f, err := os.Open(p)
	if err != nil {
		return false
	}
	defer f.Close()
	head := make([]byte, 4)
	n, _ := io.ReadFull(f, head)
	for _, m := range executableMagic {
		if n >= len(m) && bytes.Equal(head[:len(m)], m) {
			return true
		}
	}
	return false
}

// No compiled program is tracked or about to be (`go build ./internal/x` at
// the root writes ./x; .gitignore names every command's, and this catches
// the next one): the repository holds sources only.
func TestNoTrackedBinaries(t *testing.T) {
	dir := root(t)
	out, err := exec.Command("git", "-C", dir, "ls-files", "--cached", "--others", "--exclude-standard").Output()
	if err != nil {
		t.Skipf("not a git checkout (%v): nothing tracked to check", err)
	}
	for _, n := range strings.Fields(string(out)) {
		if isExecutable(filepath.Join(dir, n)) {
			t.Errorf("%s is a compiled program: remove it (git rm --cached) and name it in .gitignore", n)
		}
	}
}

// The check recognizes an executable (this test's own binary) and passes
// a source file.
func TestIsExecutable(t *testing.T) {
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	if !isExecutable(self) {
		t.Errorf("the test binary %s is not recognized as a program", self)
	}
	if isExecutable("binaries_test.go") {
		t.Error("a Go source file is taken for a program")
	}
}
