package safefile

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

func TestRead(t *testing.T) {
	dir := t.TempDir()
	regular := filepath.Join(dir, "ok.yaml")
	if err := os.WriteFile(regular, []byte("node: a\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	big := filepath.Join(dir, "big.yaml")
	if err := os.WriteFile(big, make([]byte, 2048), 0o600); err != nil {
		t.Fatal(err)
	}
	fifo := filepath.Join(dir, "fifo.yaml")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Skipf("no FIFOs here: %v", err)
	}
	link := filepath.Join(dir, "link.yaml")
	if err := os.Symlink(regular, link); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		path string
		want string
		err  error
	}{
		{"regular file", regular, "node: a\n", nil},
		{"symbolic link to a regular file", link, "node: a\n", nil},
		{"missing", filepath.Join(dir, "nope"), "", fs.ErrNotExist},
		{"directory", dir, "", ErrNotRegular},
		{"FIFO without a writer", fifo, "", ErrNotRegular},
		{"endless device", "/dev/zero", "", ErrNotRegular},
		{"over the limit", big, "", ErrTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.path == "/dev/zero" {
				if _, err := os.Stat(tt.path); err != nil {
					t.Skip("no /dev/zero")
				}
			}
			done := make(chan struct{})
			var b []byte
			var err error
			go func() {
				defer close(done)
				b, err = Read(tt.path, 1024)
			}()
			select {
			case <-done:
			case <-time.After(5 * time.Second):
				t.Fatalf("Read(%s) blocked", tt.path)
			}
			if tt.err != nil {
				if !errors.Is(err, tt.err) {
					t.Fatalf("Read(%s) = %v, want %v", tt.path, err, tt.err)
				}
				return
			}
			if err != nil || string(b) != tt.want {
				t.Fatalf("Read(%s) = %q, %v; want %q", tt.path, b, err, tt.want)
			}
		})
	}
}
