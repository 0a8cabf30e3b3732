package benchproc

import (
	"context"
	"errors"
	"os"
	"slices"
	"testing"
	"time"
)

func TestMedianAndRounds(t *testing.T) {
	for _, tt := range []struct {
		v    []float64
		want float64
	}{{nil, 0}, {[]float64{3}, 3}, {[]float64{3, 1, 2}, 2}, {[]float64{4, 1, 3, 2}, 2.5}} {
		if got := Median(tt.v); got != tt.want {
			t.Errorf("Median(%v) = %v, want %v", tt.v, got, tt.want)
		}
	}
	if got := Rounds([]float64{1.4, 2000.6}); got != "1 2001" {
		t.Errorf("Rounds: %q", got)
	}
}

func TestFreePortAndWaitUp(t *testing.T) {
	if FreePort() == 0 {
		t.Fatal("no free port")
	}
	n := 0
	if err := WaitUp(context.Background(), func() error {
		if n++; n < 3 {
			return errors.New("not yet")
		}
		return nil
	}); err != nil || n != 3 {
		t.Errorf("WaitUp: %v after %d calls", err, n)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := WaitUp(ctx, func() error { return errors.New("never") }); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled WaitUp: %v", err)
	}
}

func TestCPUTime(t *testing.T) {
	if _, err := os.Stat("/proc/self/stat"); err != nil {
		t.Skip("no /proc: ", err)
	}
	before := CPUTime(os.Getpid())
	deadline := time.Now().Add(5 * time.Second)
	for CPUTime(os.Getpid()) <= before && time.Now().Before(deadline) {
		for i := range 1_000_000 { // spend CPU time until it shows
			_ = i * i
		}
	}
	if after := CPUTime(os.Getpid()); after <= before {
		t.Errorf("CPUTime did not grow while spinning: %v then %v", before, after)
	}
	if got := CPUTime(-1); got != 0 {
		t.Errorf("CPUTime(-1) = %v, want 0", got)
	}
}

func TestCPUList(t *testing.T) {
	for _, tc := range []struct {
		in    string
		limit int
		want  []int
	}{
		{"0-1", 2, []int{0, 1}},
		{"0", 2, []int{0}},
		{"3,5-9", 2, []int{3, 5}},
		{"2-3,7", 8, []int{2, 3, 7}},
		{"", 2, nil},
		{"x", 2, nil},
		{"4-2", 2, nil},
		{"1,a", 2, []int{1}},
	} {
		if got := cpuList(tc.in, tc.limit); !slices.Equal(got, tc.want) {
			t.Errorf("cpuList(%q, %d) = %v, want %v", tc.in, tc.limit, got, tc.want)
		}
	}
}
