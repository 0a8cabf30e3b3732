// Package safefile reads the small files an agent is handed (config, service
// definitions, secrets, keyrings, certificates) or left itself (its data
// directory) without trusting what is at the path: only a regular file is
// read (a FIFO would block the start or a reload forever, a device such as
// /dev/zero would never end), it is opened without blocking, and at most a
// bound of bytes is read, so a wrong path cannot hang or exhaust the agent.
package safefile

import (
	"errors"
	"fmt"
	"io"
	"os"
	"syscall"
)

// Errors wrapped by Read, for errors.Is. A missing or unreadable file is the
// *fs.PathError of os.Open, so errors.Is(err, fs.ErrNotExist) still holds.
var (
	ErrNotRegular = errors.New("safefile: not a regular file")
	ErrTooLarge   = errors.New("safefile: file too large")
)

// Read returns the contents of the regular file at path (symbolic links
// followed), which must hold at most limit bytes.
func Read(path string, limit int64) ([]byte, error) {
	// O_NONBLOCK: opening a FIFO for reading otherwise waits for a writer.
	// It changes nothing for a regular file.
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%w: %s is %s", ErrNotRegular, path, kind(fi.Mode()))
	}
	if fi.Size() > limit {
		return nil, fmt.Errorf("%w: %s is %d bytes, limit %d", ErrTooLarge, path, fi.Size(), limit)
	}
	// The file may grow between Stat and the read: bound the read too.
	b, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, fmt.Errorf("safefile: %s: %w", path, err)
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("%w: %s grew past %d bytes while read", ErrTooLarge, path, limit)
	}
	return b, nil
}

// kind names a non-regular file's type for an error message.
func kind(m os.FileMode) string {
	switch {
	case m.IsDir():
		return "a directory"
	case m&os.ModeNamedPipe != 0:
		return "a FIFO"
	case m&os.ModeSocket != 0:
		return "a socket"
	case m&os.ModeDevice != 0:
		return "a device"
	default:
		return "not a regular file (" + m.Type().String() + ")"
	}
}
