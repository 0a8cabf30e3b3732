package render

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// defaultMode is the mode of a file render creates.
const defaultMode fs.FileMode = 0o644

// writeFile makes dest hold content and reports whether it changed. It
// writes nothing when dest already holds content. Otherwise it writes a
// temporary file in dest's directory, syncs it and renames it over dest, so
// a reader sees the old file or the new one, never a part. The new file
// keeps the mode of the one it replaces (defaultMode for a new file). A
// symbolic link is followed: its target is replaced, the link stays. The
// directory is not created.
func writeFile(dest string, content []byte) (bool, error) {
	if target, err := filepath.EvalSymlinks(dest); err == nil {
		dest = target
	}
	mode := defaultMode
	switch old, err := os.ReadFile(dest); {
	case err == nil && bytes.Equal(old, content):
		return false, nil
	case err == nil:
		fi, err := os.Stat(dest)
		if err != nil {
			return false, fmt.Errorf("render: %w", err)
		}
		mode = fi.Mode().Perm()
	case !errors.Is(err, fs.ErrNotExist):
		return false, fmt.Errorf("render: %w", err)
	}
	dir, base := filepath.Split(dest)
	if dir == "" {
		dir = "."
	}
	tmp, err := os.CreateTemp(dir, "."+base+".render-*")
	if err != nil {
		return false, fmt.Errorf("render: write %s: %w", dest, err)
	}
	err = fillTemp(tmp, content, mode)
	if err == nil {
		err = os.Rename(tmp.Name(), dest)
	}
	if err != nil {
		_ = tmp.Close() // again, if fillTemp closed it: harmless
		_ = os.Remove(tmp.Name())
		return false, fmt.Errorf("render: write %s: %w", dest, err)
	}
	return true, nil
}

// fillTemp writes content to f, sets its mode, syncs and closes it.
func fillTemp(f *os.File, content []byte, mode fs.FileMode) error {
	if _, err := f.Write(content); err != nil {
		return err
	}
	if err := f.Chmod(mode); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return err
	}
	return f.Close()
}
