package sim

import (
	"testing"
	"time"
)

func TestStepWall(t *testing.T) {
	if !stepWallWorks {
		t.Fatal("stepWall cannot step wall clocks on this runtime: clock steps fall back to skews")
	}
	t0 := time.Now()
	for _, d := range []time.Duration{-2 * time.Hour, time.Millisecond, 90 * time.Minute} {
		s := stepWall(t0, d)
		if got := s.UnixMilli() - t0.UnixMilli(); got != d.Milliseconds() {
			t.Errorf("step %v: wall moved %d ms", d, got)
		}
		if got := s.Sub(t0); got != 0 {
			t.Errorf("step %v: monotonic moved %v", d, got)
		}
		later := time.Now()
		if got, want := later.Sub(s), later.Sub(t0); got != want {
			t.Errorf("step %v: elapsed %v, want %v (monotonic)", d, got, want)
		}
	}
	// Without a monotonic reading, a step is a plain Add.
	w := t0.Round(0)
	if got := stepWall(w, time.Hour); !got.Equal(w.Add(time.Hour)) {
		t.Errorf("wall-only time: %v", got)
	}
}
