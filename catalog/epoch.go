package catalog

import (
	"crypto/rand"
	"encoding/binary"
	"math"
	"time"
)

// Epochs. An epoch is one incarnation of an origin's state (crdt). This agent
// draws its own as
//
//	epoch = unixMilli << epochRandBits  +  r,   r uniform in [1, 2^epochRandBits)
//
// above the last epoch it persisted or saw of itself: the high bits follow the
// wall clock (so a restart normally moves ahead even with a wiped data
// directory), the low bits are random (so two incarnations that start from the
// same point — a wiped directory and two starts in one millisecond, a restored
// backup on a host whose clock is behind — draw the same epoch with
// probability 2^-22, and a collision that happens anyway is detected as a
// divergent history and rebased away). The clock part reaches 2^42 ms, in the
// year 2109; past it the epoch saturates instead of wrapping.
const (
	epochRandBits = 22
	epochRandMax  = 1<<epochRandBits - 1
	epochMaxMilli = 1<<(64-epochRandBits) - 1
)

// epochAt is the smallest epoch of the millisecond of t (never 0).
func epochAt(t time.Time) uint64 {
	ms := t.UnixMilli()
	switch {
	case ms < 1:
		ms = 1
	case ms > epochMaxMilli:
		ms = epochMaxMilli
	}
	return uint64(ms) << epochRandBits
}

// epochMilli is the wall-clock part of an epoch (Unix milliseconds). Epochs of
// agents before this scheme were plain Unix milliseconds: their clock part is
// tiny, so they read as long past.
func epochMilli(epoch uint64) int64 { return int64(epoch >> epochRandBits) }

// nextEpoch returns an epoch above after, at least the clock's, with random low
// bits; it saturates at MaxUint64 (then it may equal after: see rebase).
func nextEpoch(after uint64, now time.Time, rnd uint64) uint64 {
	base := max(after, epochAt(now))
	r := 1 + rnd%epochRandMax
	if base > math.MaxUint64-r {
		return math.MaxUint64
	}
	return base + r
}

// randUint64 draws the epoch's random bits from crypto/rand.
func randUint64() uint64 {
	var b [8]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+)
	return binary.LittleEndian.Uint64(b[:])
}

// epochLimit is the highest epoch this agent accepts at now: one whose clock
// part is at most Config.MaxEpochAhead ahead of its own clock. Deltas above it
// are rejected (ErrBadEpoch), so no peer can claim an epoch the real origin
// could not exceed.
func (c *Catalog) epochLimit(now time.Time) uint64 {
	return epochAt(now.Add(c.cfg.MaxEpochAhead)) | epochRandMax
}
