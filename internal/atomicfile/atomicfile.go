// Package atomicfile writes files so that a reader (or a restart after a
// crash) sees either the old content or the new, never a mix, and so that a
// write that returned nil survives a crash: the data goes to a temporary file
// in the same directory, which is fsynced, renamed over the target, and the
// directory is fsynced so that the rename itself is durable.
//
// It is the one helper every persisted file of an agent goes through (the
// catalog's data files, the gossip keyring).
package atomicfile

import (
	"fmt"
	"os"
	"path/filepath"
)

// Write replaces path with data, atomically and durably, with mode perm (the
// temporary file is created with it, so the content is never readable by
// others in between). The error names the step that failed; on an error the
// target is unchanged or, if the rename happened but the directory fsync
// failed, replaced but perhaps not durable.
func Write(path string, data []byte, perm os.FileMode) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("atomicfile: %w", err)
	}
	tmp := f.Name()
	defer os.Remove(tmp) // a no-op after the rename
	if err := write(f, data, perm); err != nil {
		return fmt.Errorf("atomicfile: %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("atomicfile: %w", err)
	}
	if err := SyncDir(dir); err != nil {
		return err
	}
	return nil
}

func write(f *os.File, data []byte, perm os.FileMode) error {
	err := f.Chmod(perm)
	if err == nil {
		_, err = f.Write(data)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// SyncDir fsyncs directory dir, making the creation, renaming or removal of
// its entries durable.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("atomicfile: %w", err)
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("atomicfile: sync dir %s: %w", dir, err)
	}
	return nil
}
