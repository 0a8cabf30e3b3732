package dnsserver

import (
	"hash/maphash"
	"net/netip"
	"sync"
	"time"
)

// limiter is response rate limiting per client prefix: a GCRA token bucket
// (one timestamp per prefix) in a fixed table of two-way buckets. Memory is
// fixed; when more prefixes are active than the table holds, the least
// recently charged of a pair is replaced (it starts with a full bucket).
type limiter struct {
	cost  int64 // nanoseconds of credit one response costs
	burst int64 // nanoseconds of credit a bucket holds
	v4len int
	v6len int
	slip  uint32
	seed  maphash.Seed
	locks [64]sync.Mutex
	slots []rrlSlot // len a power of two
}

type rrlSlot struct {
	key     [17]byte // the prefix: 4 or 16 bytes and its family
	tat     int64    // theoretical arrival time (GCRA), unix nanoseconds
	limited uint32   // responses limited in a row, for slip
}

type rrlVerdict uint8

const (
	rrlAllow rrlVerdict = iota
	rrlDrop
	rrlSlip
)

func newLimiter(c RateLimitConfig) *limiter {
	if c.PerSecond <= 0 {
		return nil
	}
	burst := c.Burst
	if burst <= 0 {
		burst = 2 * c.PerSecond
	}
	n := 2
	for n < c.Table {
		n <<= 1
	}
	cost := int64(time.Second) / int64(c.PerSecond)
	return &limiter{cost: cost, burst: cost * int64(burst), v4len: c.IPv4PrefixLen, v6len: c.IPv6PrefixLen,
		slip: uint32(c.Slip), seed: maphash.MakeSeed(), slots: make([]rrlSlot, n)}
}

// allow charges one response to client's prefix at now.
func (l *limiter) allow(client netip.Addr, now time.Time) rrlVerdict {
	var key [17]byte
	client = client.Unmap()
	if client.Is4() {
		p, _ := client.Prefix(l.v4len)
		a := p.Addr().As4()
		copy(key[:], a[:])
		key[16] = 4
	} else {
		p, _ := client.Prefix(l.v6len)
		a := p.Addr().As16()
		copy(key[:], a[:])
		key[16] = 6
	}
	h := maphash.Bytes(l.seed, key[:])
	i := int(h) & (len(l.slots) - 1) &^ 1 // the pair (i, i+1)
	mu := &l.locks[(i>>1)%len(l.locks)]
	t := now.UnixNano()
	mu.Lock()
	defer mu.Unlock()
	s := &l.slots[i]
	switch {
	case s.key == key:
	case l.slots[i+1].key == key:
		s = &l.slots[i+1]
	default:
		if l.slots[i+1].tat < s.tat {
			s = &l.slots[i+1]
		}
		*s = rrlSlot{key: key, tat: t}
	}
	tat := max(s.tat, t) + l.cost
	if tat-t <= l.burst {
		s.tat = tat
		s.limited = 0
		return rrlAllow
	}
	s.limited++
	if l.slip > 0 && s.limited%l.slip == 0 {
		return rrlSlip
	}
	return rrlDrop
}
