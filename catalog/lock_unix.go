//go:build unix

package catalog

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
)

// lockFile is the data directory's lock, held (flock, exclusive) by the one
// catalog using the directory; the kernel drops it when the process dies.
const lockFile = "lock"

// lockDataDir takes the data directory's lock, or fails at once (wrapping
// ErrPersist and ErrDataDirInUse) when another process holds it.
func lockDataDir(dir string) (*os.File, error) {
	path := filepath.Join(dir, lockFile)
	// Read-only and readable by all: the file holds nothing, and an agent
	// run once as root and then as its own user still reaches its files.
	f, err := os.OpenFile(path, os.O_RDONLY|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("%w: lock %s: %v", ErrPersist, path, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("%w: %w: %s is locked by another running agent (two agents on one data_dir would overwrite each other's registrations); stop it or give this one its own data_dir", ErrPersist, ErrDataDirInUse, dir)
		}
		return nil, fmt.Errorf("%w: lock %s: %v", ErrPersist, path, err)
	}
	return f, nil
}
