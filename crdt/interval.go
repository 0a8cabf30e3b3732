package crdt

// maxPending bounds the non-contiguous ranges remembered per origin. Forgetting a
// range is safe: it only costs a repair later (see package comment).
const maxPending = 32

// span is an inclusive range of seqs.
type span struct{ lo, hi uint64 }

// coverage is what a replica holds of an origin's seqs: everything up to applied,
// plus disjoint, sorted spans above applied+1.
type coverage struct {
	applied uint64
	pending []span
}

// covers reports whether every seq in [lo, hi] is held.
func (c *coverage) covers(lo, hi uint64) bool {
	if hi <= c.applied {
		return true
	}
	for _, p := range c.pending {
		if p.lo <= lo && hi <= p.hi {
			return true
		}
	}
	return false
}

// holds reports whether seq is held.
func (c *coverage) holds(seq uint64) bool { return c.covers(seq, seq) }

// add records [lo, hi] as held and advances applied over contiguous ranges.
func (c *coverage) add(lo, hi uint64) {
	if hi <= c.applied {
		return
	}
	if lo <= c.applied+1 {
		c.applied = hi
	} else {
		c.insert(span{lo, hi})
	}
	// Absorb pending spans now reachable from applied; drop those below it.
	keep := c.pending[:0]
	for _, p := range c.pending {
		switch {
		case p.hi <= c.applied:
		case p.lo <= c.applied+1:
			c.applied = p.hi
		default:
			keep = append(keep, p)
		}
	}
	c.pending = keep
}

// insert merges s into the sorted, disjoint pending spans.
func (c *coverage) insert(s span) {
	out := make([]span, 0, len(c.pending)+1)
	placed := false
	for _, p := range c.pending {
		switch {
		case p.hi+1 < s.lo:
			out = append(out, p)
		case s.hi+1 < p.lo:
			if !placed {
				out = append(out, s)
				placed = true
			}
			out = append(out, p)
		default: // overlapping or adjacent: widen s
			s.lo, s.hi = min(s.lo, p.lo), max(s.hi, p.hi)
		}
	}
	if !placed {
		out = append(out, s)
	}
	if len(out) > maxPending {
		out = out[:maxPending] // forget the highest ranges; repair refetches them
	}
	c.pending = out
}

// gap reports whether seqs beyond applied are known to exist (a repair is due).
func (c *coverage) gap() bool { return len(c.pending) > 0 }
