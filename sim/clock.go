package sim

import (
	"time"
	"unsafe"
)

// stepWall returns t with its wall reading moved by d and its monotonic
// reading kept: what time.Now returns on a host whose clock NTP stepped by
// d. time.Time offers no such operation (Add moves both readings), so this
// edits the wall field of Go's representation: a time with a monotonic
// reading stores seconds since 1885 (33 bits) and nanoseconds (30 bits)
// below a flag bit. The layout is checked once (stepWallWorks); if it ever
// changes, or t has no monotonic reading, or the result would not fit,
// stepWall falls back to t.Add(d) (a skew: both readings move).
func stepWall(t time.Time, d time.Duration) time.Time {
	if d == 0 || !stepWallWorks {
		return t.Add(d)
	}
	return stepWallRaw(t, d)
}

// rawTime mirrors time.Time's fields.
type rawTime struct {
	wall uint64
	ext  int64
	loc  *time.Location
}

const (
	hasMonotonic = 1 << 63
	nsecBits     = 30
	secBits      = 33
)

func stepWallRaw(t time.Time, d time.Duration) time.Time {
	r := (*rawTime)(unsafe.Pointer(&t))
	if r.wall&hasMonotonic == 0 {
		return t.Add(d)
	}
	sec := int64(r.wall << 1 >> (nsecBits + 1))
	nsec := int64(r.wall & (1<<nsecBits - 1))
	total := sec*int64(time.Second) + nsec + int64(d)
	if total < 0 || total/int64(time.Second) >= 1<<secBits {
		return t.Add(d)
	}
	r.wall = hasMonotonic | uint64(total/int64(time.Second))<<nsecBits | uint64(total%int64(time.Second))
	return t
}

// stepWallWorks reports whether stepWallRaw does what it says on this
// runtime: the wall reading moves by exactly d, the monotonic one not at all.
var stepWallWorks = func() bool {
	if unsafe.Sizeof(time.Time{}) != unsafe.Sizeof(rawTime{}) {
		return false
	}
	t := time.Now()
	for _, d := range []time.Duration{time.Hour, -3 * time.Hour, 1500 * time.Millisecond} {
		s := stepWallRaw(t, d)
		if s.Sub(t) != 0 || s.UnixNano()-t.UnixNano() != int64(d) || !s.Round(0).Equal(t.Round(0).Add(d)) {
			return false
		}
	}
	return true
}()
