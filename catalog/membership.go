package catalog

import (
	"slices"
	"time"
)

// The Catalog side of leases: membership news goes into the pure lease table
// (lease.go), and the events it returns are applied here, under mu, to the
// records (re-served, reaped, forgotten) and logged.

// MemberAlive tells the catalog that SWIM sees node alive (joined, or back).
// Its records are served fresh again; if it restarted, its new epoch replaces
// the old records when it arrives. Callable from any goroutine; does not block
// beyond the catalog's lock.
func (c *Catalog) MemberAlive(node string) { c.setMember(node, memberAlive) }

// MemberLeft tells the catalog that node left gracefully: its records leave
// lookups at once (no stale-over-empty) and are reaped after ReapAfter.
func (c *Catalog) MemberLeft(node string) { c.setMember(node, memberLeft) }

// MemberFailed tells the catalog that SWIM declared node dead: its records are
// served stale for LeaseGrace, then expire; see Config.
func (c *Catalog) MemberFailed(node string) { c.setMember(node, memberFailed) }

func (c *Catalog) setMember(node string, st memberState) {
	if node == c.cfg.Node {
		return // the own origin is always alive
	}
	now := c.cfg.Now()
	c.mu.Lock()
	defer c.mu.Unlock()
	b := &batch{now: now} // the time read before the lock
	c.setMemberLocked(b, node, st)
	c.commit(b)
}

// setMemberLocked records membership news of node and merges its quarantined
// deltas. mu held.
func (c *Catalog) setMemberLocked(b *batch, node string, st memberState) {
	ev, changed := c.lease.set(b.now, node, st)
	if changed {
		c.log.Debug().Str("node", node).Stringer("state", st).Msg("member")
		c.release(b, node)
	}
	c.applyLease(b, &ev)
}

// SyncMembers reconciles the membership news with the current live members
// (the agent calls it every tick with gossip's member list): a live member the
// catalog has no news of yet (its join event is still queued) counts as alive
// news now, so its quarantined deltas are merged without waiting.
func (c *Catalog) SyncMembers(live []string) {
	now := c.cfg.Now()
	c.mu.Lock()
	defer c.mu.Unlock()
	b := &batch{now: now} // the time read before the lock
	for _, n := range live {
		if !c.known(n) {
			c.setMemberLocked(b, n, memberAlive)
		}
	}
	c.commit(b)
}

// Tick advances time-driven state: lease expiry, self-preservation, reaping of
// long-dead origins, tombstone collection. The agent calls it every second (or
// so); it takes the catalog's lock briefly and never blocks otherwise. Its cost
// is what is due, not the number of origins.
func (c *Catalog) Tick() {
	now := c.cfg.Now()
	c.mu.Lock()
	defer c.mu.Unlock()
	b := &batch{now: now} // the time read before the lock
	ev := c.lease.tick(now)
	c.applyLease(b, &ev)
	c.limitFloors(b)
	for name := range c.rereap {
		if c.lease.reaped(name) {
			c.reapOrigin(b, name)
		}
		delete(c.rereap, name)
	}
	c.expireHeld(now)
	c.compact(now)
	c.cool(now)
	c.maxEpoch = c.epochLimit(now)
	c.commit(b)
}

// applyLease applies the lease table's events to the records and logs them.
// mu held.
func (c *Catalog) applyLease(b *batch, ev *leaseEvents) {
	for _, p := range ev.Preservation {
		switch {
		case p.Active:
			c.log.Warn().Int("unreachable", p.Unreachable).Int("known", p.Known).Int("recent_failures", p.Recent).
				Msg("self-preservation engaged: many origins unreachable at once, holding their records stale")
		case p.Capped:
			c.log.Warn().Dur("held", p.Held).Msg("self-preservation released: cap reached")
		default:
			c.log.Info().Int("unreachable", p.Unreachable).Int("known", p.Known).Msg("self-preservation released: origins recovered")
		}
	}
	for _, p := range ev.Phases {
		c.markOrigin(b, p.Origin)
	}
	for _, name := range ev.Reap {
		c.reapOrigin(b, name)
	}
	for _, f := range ev.Forget {
		c.applyChanges(b, c.state.Reap(f.Origin))
		c.state.Forget(f.Origin)
		delete(c.samples, f.Origin)
		delete(c.rereap, f.Origin)
	}
}

// reapOrigin drops the records of an origin departed longer than ReapAfter,
// keeping its epoch floor. mu held.
func (c *Catalog) reapOrigin(b *batch, name string) {
	if c.state.Position(name).Epoch == 0 {
		return
	}
	c.applyChanges(b, c.state.Reap(name))
	delete(c.samples, name)
	m := c.lease.members[name]
	c.log.Info().Str("node", name).Stringer("state", m.state).Msg("reaped origin")
}

// limitFloors forgets the oldest departed origins once more than maxFloors
// epoch floors are kept (down to 7/8 of it, so this runs rarely). mu held.
func (c *Catalog) limitFloors(b *batch) {
	if c.state.Gone() <= maxFloors {
		return
	}
	type aged struct {
		name  string
		since time.Time
	}
	var old []aged
	for name, m := range c.lease.members {
		if m.state != memberAlive && c.state.Position(name).Epoch == 0 {
			old = append(old, aged{name, m.since})
		}
	}
	slices.SortFunc(old, func(a, b aged) int { return a.since.Compare(b.since) })
	for _, a := range old[:max(0, min(len(old), c.state.Gone()-maxFloors*7/8))] {
		ev := c.lease.forget(b.now, a.name)
		c.applyLease(b, &ev)
	}
}

// Preservation returns the self-preservation state.
func (c *Catalog) Preservation() PreservationState {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lease.preserve
}

// phaseOf returns the phase of origin's records and the failure time (zero
// when live). mu held.
func (c *Catalog) phaseOf(origin string) (phase, time.Time) { return c.lease.phaseOf(origin) }

// sample is an origin's applied seq at a time, for tombstone collection.
type sample struct {
	at      time.Time
	epoch   uint64
	applied uint64
}

// compact records each origin's applied seq every TombstoneHorizon/8 and
// collects tombstones up to the seq recorded a horizon ago (see
// crdt.State.Compact). It walks the origins once per TombstoneHorizon/8, not
// every Tick. mu held.
func (c *Catalog) compact(now time.Time) {
	every := c.cfg.TombstoneHorizon / 8
	if !c.compacted.IsZero() && now.Sub(c.compacted) < every {
		return
	}
	c.compacted = now
	for name, v := range c.state.Origins() {
		ss := c.samples[name]
		// Drop samples of an older epoch: their seqs mean nothing now.
		for len(ss) > 0 && ss[0].epoch != v.Epoch {
			ss = ss[1:]
		}
		if len(ss) == 0 || now.Sub(ss[len(ss)-1].at) >= every {
			ss = append(ss, sample{at: now, epoch: v.Epoch, applied: v.Applied})
		}
		// The newest sample at least a horizon old bounds what may be collected.
		k := -1
		for i, s := range ss {
			if now.Sub(s.at) >= c.cfg.TombstoneHorizon {
				k = i
			}
		}
		if k >= 0 {
			if n := c.state.Compact(name, ss[k].applied); n > 0 {
				c.log.Debug().Str("origin", name).Int("tombstones", n).Msg("collected tombstones")
			}
			ss = ss[k+1:]
		}
		c.samples[name] = ss
	}
}
