package catalog

import (
	"math"
	"testing"
	"time"
)

func TestNextEpoch(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	tests := []struct {
		name  string
		after uint64
		rnd   uint64
		check func(uint64) bool
	}{
		{"from the clock", 0, 5, func(e uint64) bool { return e == epochAt(now)+6 }},
		{"random bits", 0, epochRandMax - 1, func(e uint64) bool { return e == epochAt(now)+epochRandMax }},
		{"above an epoch ahead of the clock", epochAt(now.Add(time.Hour)), 0, func(e uint64) bool { return e == epochAt(now.Add(time.Hour))+1 }},
		{"old-style epoch (plain milliseconds)", uint64(now.UnixMilli()), 0, func(e uint64) bool { return e > uint64(now.UnixMilli()) && e == epochAt(now)+1 }},
		{"saturates, never wraps", math.MaxUint64 - 3, epochRandMax - 1, func(e uint64) bool { return e == math.MaxUint64 }},
		{"at the top", math.MaxUint64, 0, func(e uint64) bool { return e == math.MaxUint64 }},
	}
	for _, tt := range tests {
		if got := nextEpoch(tt.after, now, tt.rnd); !tt.check(got) {
			t.Errorf("%s: nextEpoch(%d) = %d", tt.name, tt.after, got)
		}
	}
	if epochAt(time.Unix(0, 0).Add(-time.Hour)) == 0 {
		t.Error("epoch 0 before 1970")
	}
	if e := epochAt(time.Date(2200, 1, 1, 0, 0, 0, 0, time.UTC)); e != epochMaxMilli<<epochRandBits {
		t.Errorf("epoch after 2109 = %d, want saturated", e)
	}
	if got := epochMilli(epochAt(now)); got != now.UnixMilli() {
		t.Errorf("epochMilli = %d, want %d", got, now.UnixMilli())
	}
}
