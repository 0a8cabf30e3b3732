package catalog

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestJoinSome: SyncFiles reports at most maxJoinedErrors errors one by one
// and counts the rest, so a huge bad definition file logs a bounded line.
func TestJoinSome(t *testing.T) {
	many := func(n int) []error {
		var errs []error
		for i := range n {
			errs = append(errs, fmt.Errorf("instance \"m%d\": over quota", i))
		}
		return errs
	}
	tests := []struct {
		n         int
		wantLines int
		wantMore  string
	}{
		{0, 0, ""},
		{3, 3, ""},
		{10, 10, ""},
		{11, 11, "and 1 more like these"},
		{5000, 11, "and 4990 more like these"},
	}
	for _, tt := range tests {
		err := joinSome(many(tt.n), 10)
		if tt.n == 0 {
			if err != nil {
				t.Fatalf("no errors joined to %v", err)
			}
			continue
		}
		lines := strings.Split(err.Error(), "\n")
		if len(lines) != tt.wantLines {
			t.Errorf("%d errors: %d lines, want %d", tt.n, len(lines), tt.wantLines)
		}
		if tt.wantMore != "" && lines[len(lines)-1] != tt.wantMore {
			t.Errorf("%d errors: last line %q, want %q", tt.n, lines[len(lines)-1], tt.wantMore)
		}
		if !strings.Contains(err.Error(), `"m0"`) {
			t.Errorf("%d errors: the first is not named: %v", tt.n, err)
		}
	}
}

// TestDataDirLocked: a second catalog on an open catalog's data directory is
// refused at once with ErrDataDirInUse and changes nothing; once the first
// closes, the directory opens again.
func TestDataDirLocked(t *testing.T) {
	dir := t.TempDir()
	cfg := DefaultConfig()
	cfg.Node = "node-a"
	cfg.DataDir = dir
	first, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	before, err := os.ReadFile(filepath.Join(dir, epochFile))
	if err != nil {
		t.Fatal(err)
	}
	cfg2 := cfg
	cfg2.Node = "node-b"
	if second, err := New(cfg2); err == nil {
		second.Close()
		first.Close()
		t.Fatal("a second catalog opened a data directory in use")
	} else if !errors.Is(err, ErrDataDirInUse) || !errors.Is(err, ErrPersist) {
		t.Fatalf("second catalog: %v, want ErrDataDirInUse", err)
	}
	after, err := os.ReadFile(filepath.Join(dir, epochFile))
	if err != nil || string(after) != string(before) {
		t.Fatalf("the refused catalog changed %s: %v", epochFile, err)
	}
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}
	third, err := New(cfg2)
	if err != nil {
		t.Fatalf("after Close the directory stays locked: %v", err)
	}
	third.Close()
}
