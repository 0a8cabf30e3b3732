package catalog

import (
	"fmt"
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
