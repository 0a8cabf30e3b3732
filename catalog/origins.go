package catalog

import (
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/grapevine-sd/grapevine/crdt"
)

// What a peer's delta must pass before it is merged (docs/protocol.md, "Which
// deltas are merged"), and the bounds on what is held for origins that are not
// members.

const (
	// quarantineBytes bounds the deltas held in quarantine, all origins
	// together (crdt.Delta.Size); quarantineOriginBytes bounds one origin's;
	// quarantineOrigins bounds how many origins are held. Beyond them a delta
	// of an unknown origin is dropped at once.
	quarantineBytes       = 4 << 20
	quarantineOriginBytes = 1 << 20
	quarantineOrigins     = 1024
	// maxFloors bounds the epoch floors of reaped origins (crdt.State.Forget);
	// maxReported bounds the departures learnt from peers for origins this
	// agent never saw.
	maxFloors   = 1 << 16
	maxReported = 1 << 16
)

// held is one origin's quarantine: its deltas in arrival order.
type held struct {
	since  time.Time
	bytes  int
	deltas []crdt.Delta
}

// known reports whether this agent has membership news of origin. mu held.
func (c *Catalog) known(origin string) bool {
	return origin == c.cfg.Node || c.lease.known(origin)
}

// mergeLocked checks a peer's delta and merges it; it returns a non-zero
// epoch when the delta shows another incarnation of the own origin at that
// epoch (the caller rebases above it, without mu). The caller applies
// res.Changes. mu held.
func (c *Catalog) mergeLocked(d crdt.Delta) (crdt.MergeResult, uint64, error) {
	var res crdt.MergeResult
	if d.Epoch > c.maxEpoch {
		return res, 0, fmt.Errorf("%w: origin %q epoch %d is more than %v ahead of this agent's clock", ErrBadEpoch, d.Origin, d.Epoch, c.cfg.MaxEpochAhead)
	}
	if !c.known(d.Origin) {
		if err := d.Validate(); err != nil {
			return res, 0, err
		}
		return res, 0, c.hold(d)
	}
	if err := c.admit(d); err != nil {
		return res, 0, err
	}
	if c.lease.reaped(d.Origin) {
		c.rereap[d.Origin] = true // not served (withdrawn); reaped again at the next Tick
	}
	res, err := c.state.Merge(d)
	if errors.Is(err, crdt.ErrNewerSelfEpoch) || errors.Is(err, crdt.ErrDivergentSelf) {
		c.log.Warn().Err(err).Msg("a peer holds another incarnation of this node")
		return crdt.MergeResult{}, d.Epoch, nil
	}
	return res, 0, err
}

// admit enforces the per-origin bounds on d: value size and records held.
// mu held.
func (c *Catalog) admit(d crdt.Delta) error {
	add := 0
	for _, e := range d.Entries {
		if len(e.Value) > c.cfg.MaxValueBytes {
			return fmt.Errorf("%w: origin %q record %q is %d bytes (max %d)", ErrTooLarge, d.Origin, e.Key, len(e.Value), c.cfg.MaxValueBytes)
		}
		if !e.Deleted {
			add++
		}
	}
	if add == 0 || d.Origin == c.cfg.Node {
		return nil
	}
	live := c.state.Live(d.Origin)
	if live+add <= c.cfg.MaxRecordsPerOrigin {
		return nil
	}
	// Near the quota: count exactly what would be new (a newer epoch
	// replaces everything held).
	same := d.Epoch == c.state.Position(d.Origin).Epoch
	if !same {
		live = 0
	}
	for _, e := range d.Entries {
		if e.Deleted {
			continue
		}
		if cur, ok := c.state.Get(d.Origin, e.Key); same && ok && !cur.Deleted {
			continue
		}
		live++
	}
	if live > c.cfg.MaxRecordsPerOrigin {
		return fmt.Errorf("%w: origin %q would hold %d records (max %d)", ErrOverQuota, d.Origin, live, c.cfg.MaxRecordsPerOrigin)
	}
	return nil
}

// hold puts a delta of an origin without membership news in quarantine, or
// drops it when quarantine is off or full; either way it returns an error
// wrapping ErrUnknownOrigin. mu held.
func (c *Catalog) hold(d crdt.Delta) error {
	q := c.held[d.Origin]
	size := d.Size()
	switch {
	case c.cfg.UnknownGrace == 0:
		return fmt.Errorf("%w: %q is not a known member; delta dropped", ErrUnknownOrigin, d.Origin)
	case q == nil && len(c.held) >= quarantineOrigins,
		c.heldBytes+size > quarantineBytes,
		q != nil && q.bytes+size > quarantineOriginBytes:
		return fmt.Errorf("%w: %q is not a known member; quarantine full, delta dropped", ErrUnknownOrigin, d.Origin)
	}
	if q == nil {
		q = &held{since: c.cfg.Now()}
		c.held[d.Origin] = q
	}
	q.deltas = append(q.deltas, d)
	q.bytes += size
	c.heldBytes += size
	return fmt.Errorf("%w: %q is not a known member; delta held in quarantine", ErrUnknownOrigin, d.Origin)
}

// release merges the quarantined deltas of origin, now known, into b. It
// returns the deltas to publish. mu held.
func (c *Catalog) release(b *batch, origin string) {
	q := c.held[origin]
	if q == nil {
		return
	}
	c.dropHeld(origin, q)
	for _, d := range q.deltas {
		res, _, err := c.mergeLocked(d)
		if err != nil {
			c.log.Debug().Err(err).Str("origin", origin).Msg("quarantined delta rejected")
			continue
		}
		c.applyChanges(b, res.Changes)
	}
}

func (c *Catalog) dropHeld(origin string, q *held) {
	delete(c.held, origin)
	c.heldBytes -= q.bytes
}

// expireHeld drops quarantined deltas older than UnknownGrace. mu held.
func (c *Catalog) expireHeld(now time.Time) {
	for origin, q := range c.held {
		if now.Sub(q.since) >= c.cfg.UnknownGrace {
			c.dropHeld(origin, q)
			c.log.Info().Str("origin", origin).Int("deltas", len(q.deltas)).
				Msg("dropped the records of an origin never known as a member")
		}
	}
}

// Departures returns the news of departed origins a peer with digest peer may
// lack: origins this agent holds as failed or left (not yet reaped) whose
// records the peer does not hold at this agent's position. Gossip sends them
// before the deltas that answer the digest, so that an agent that joined
// after the departure treats those records as its peers do.
func (c *Catalog) Departures(peer crdt.Digest) []crdt.Departure {
	now := c.cfg.Now()
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []crdt.Departure
	for name, m := range c.lease.members {
		if m.state == memberAlive || now.Sub(m.since) >= c.cfg.ReapAfter {
			continue
		}
		pos := c.state.Position(name)
		if pos.Epoch == 0 {
			continue // reaped: nothing to send of it
		}
		if pv, ok := peer[name]; ok && (pv.Epoch > pos.Epoch || pv.Epoch == pos.Epoch && pv.Applied >= pos.Applied) {
			continue
		}
		out = append(out, crdt.Departure{
			Origin: name, Epoch: pos.Epoch, Left: m.state == memberLeft,
			AgeMs: uint64(max(now.Sub(m.since), 0).Milliseconds()),
		})
	}
	slices.SortFunc(out, func(a, b crdt.Departure) int { return cmpString(a.Origin, b.Origin) })
	return out
}

func cmpString(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// LearnDepartures takes a peer's news of departed origins (see Departures).
// News of an origin this agent has membership news of itself is ignored (its
// own view is authoritative), and so is news older than ReapAfter. Otherwise
// the origin is taken as failed or left since the reported age, and its
// quarantined deltas are merged; its records are never served in default
// lookups here (at most by stale-over-empty), since no membership event of
// this agent's vouches for them.
func (c *Catalog) LearnDepartures(from string, ds []crdt.Departure) {
	now := c.cfg.Now()
	c.mu.Lock()
	defer c.mu.Unlock()
	b := &batch{now: now} // the time read before the lock
	learnt := 0
	for _, d := range ds {
		age := time.Duration(min(d.AgeMs, uint64(c.cfg.ReapAfter.Milliseconds()))) * time.Millisecond
		if c.known(d.Origin) || age >= c.cfg.ReapAfter || c.lease.reported >= maxReported {
			continue
		}
		ev, ok := c.lease.report(now, d.Origin, d.Left, now.Add(-age))
		if ok {
			learnt++
			c.release(b, d.Origin)
		}
		c.applyLease(b, &ev)
	}
	if learnt > 0 {
		c.log.Debug().Str("peer", from).Int("origins", learnt).Msg("learnt departures from a peer")
	}
	c.commit(b)
}
