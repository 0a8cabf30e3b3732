package gossip

import (
	"sync"
	"time"
)

// bucket is a token bucket. A request is allowed while the bucket holds a
// positive balance and then pays its whole cost, possibly into debt: a
// request whose cost is known only afterwards (the bytes of an answer) is
// still bounded, overshooting by at most one request.
type bucket struct {
	tokens float64
	last   time.Time
}

// refill adds rate·elapsed tokens, up to burst.
func (b *bucket) refill(now time.Time, rate, burst float64) {
	if b.last.IsZero() {
		b.tokens, b.last = burst, now
		return
	}
	if dt := now.Sub(b.last).Seconds(); dt > 0 {
		b.tokens = min(burst, b.tokens+dt*rate)
		b.last = now
	}
}

// limiter keeps one bucket per key (a sender's or a peer's name) with the
// same rate (tokens per second) and burst. The number of keys is bounded:
// when full, buckets idle long enough to be full again are forgotten, and if
// none is, new keys share one overflow bucket, so forged names cannot grow
// memory or mint fresh budgets. A zero rate disables the limiter. Safe for
// concurrent use.
type limiter struct {
	rate, burst float64
	maxKeys     int

	mu      sync.Mutex // guards m
	m       map[string]*bucket
	overflw bucket
}

func newLimiter(rate float64, burst, maxKeys int) *limiter {
	return &limiter{rate: rate, burst: float64(burst), maxKeys: maxKeys, m: make(map[string]*bucket)}
}

// get returns key's bucket, refilled to now. l.mu must be held.
func (l *limiter) get(key string, now time.Time) *bucket {
	b, ok := l.m[key]
	if !ok {
		if len(l.m) >= l.maxKeys {
			l.prune(now)
		}
		if len(l.m) >= l.maxKeys {
			b = &l.overflw
		} else {
			b = &bucket{}
			l.m[key] = b
		}
	}
	b.refill(now, l.rate, l.burst)
	return b
}

// prune forgets buckets that have refilled completely. l.mu must be held.
func (l *limiter) prune(now time.Time) {
	for k, b := range l.m {
		if b.tokens+now.Sub(b.last).Seconds()*l.rate >= l.burst {
			delete(l.m, k)
		}
	}
}

// allow reports whether key may proceed now and, if so, charges cost.
func (l *limiter) allow(key string, now time.Time, cost float64) bool {
	if l == nil || l.rate <= 0 {
		return true
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.get(key, now)
	if b.tokens <= 0 {
		return false
	}
	b.tokens -= cost
	return true
}

// charge takes cost from key's bucket without asking (a cost learnt after
// allow said yes).
func (l *limiter) charge(key string, now time.Time, cost float64) {
	if l == nil || l.rate <= 0 {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.get(key, now).tokens -= cost
}
