package render

import (
	"io"
	"os"
	"path/filepath"
	"testing"
)

func TestWriteFile(t *testing.T) {
	dir := t.TempDir()
	dest := filepath.Join(dir, "a.cfg")

	changed, err := writeFile(dest, []byte("one\n"))
	if err != nil || !changed {
		t.Fatalf("new file: changed %v, err %v", changed, err)
	}
	checkFile(t, dest, "one\n", 0o644)

	before, _ := os.Stat(dest)
	changed, err = writeFile(dest, []byte("one\n"))
	if err != nil || changed {
		t.Fatalf("same content: changed %v, err %v; want no write", changed, err)
	}
	if after, _ := os.Stat(dest); !os.SameFile(before, after) {
		t.Error("same content: the file was replaced")
	}

	// The mode of the file replaced is kept, and the file is replaced, not
	// rewritten in place (a reader holding the old one keeps it whole).
	if err := os.Chmod(dest, 0o600); err != nil {
		t.Fatal(err)
	}
	old, err := os.Open(dest)
	if err != nil {
		t.Fatal(err)
	}
	defer old.Close()
	changed, err = writeFile(dest, []byte("two\n"))
	if err != nil || !changed {
		t.Fatalf("new content: changed %v, err %v", changed, err)
	}
	checkFile(t, dest, "two\n", 0o600)
	if b, err := io.ReadAll(old); err != nil || string(b) != "one\n" {
		t.Errorf("the file opened before reads %q (%v), want its old content whole", b, err)
	}
	if after, _ := os.Stat(dest); os.SameFile(before, after) {
		t.Error("new content: written in place, want a rename")
	}
	assertNoTempFiles(t, dir)
}

func TestWriteFileFollowsSymlink(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(dir, "real.cfg")
	link := filepath.Join(dir, "link.cfg")
	if err := os.WriteFile(target, []byte("old"), 0o640); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
	if _, err := writeFile(link, []byte("new")); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Lstat(link); err != nil || fi.Mode()&os.ModeSymlink == 0 {
		t.Errorf("the link was replaced by a file (%v)", err)
	}
	checkFile(t, target, "new", 0o640)
}

func TestWriteFileErrors(t *testing.T) {
	dir := t.TempDir()
	if _, err := writeFile(filepath.Join(dir, "missing", "a.cfg"), []byte("x")); err == nil {
		t.Error("missing directory: no error")
	}
	sub := filepath.Join(dir, "sub")
	if err := os.Mkdir(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := writeFile(sub, []byte("x")); err == nil {
		t.Error("DEST is a directory: no error")
	}
	if os.Geteuid() != 0 { // root writes anywhere
		ro := filepath.Join(dir, "ro")
		if err := os.Mkdir(ro, 0o555); err != nil {
			t.Fatal(err)
		}
		if _, err := writeFile(filepath.Join(ro, "a.cfg"), []byte("x")); err == nil {
			t.Error("read-only directory: no error")
		}
	}
	assertNoTempFiles(t, dir)
}

func checkFile(t *testing.T, path, content string, mode os.FileMode) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != content {
		t.Errorf("%s holds %q, want %q", path, b, content)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != mode {
		t.Errorf("%s has mode %v, want %v", path, fi.Mode().Perm(), mode)
	}
}

func assertNoTempFiles(t *testing.T, dir string) {
	t.Helper()
	matches, _ := filepath.Glob(filepath.Join(dir, ".*.render-*"))
	if len(matches) > 0 {
		t.Errorf("temporary files left: %v", matches)
	}
}
