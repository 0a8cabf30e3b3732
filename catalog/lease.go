package catalog

import (
	"time"
)

// memberState is what the agent last reported about an origin.
type memberState uint8

const (
	memberAlive memberState = iota
	memberFailed
	memberLeft
)

var memberStateNames = [...]string{"alive", "failed", "left"}

// member is the lease state of one origin.
type member struct {
	state memberState
	since time.Time // when the current state was reported
	phase phase     // last computed phase, to detect transitions
	// reported: the news came from a peer (LearnDepartures), not from this
	// agent's own membership; the records are then never served fresh or
	// stale, only by stale-over-empty.
	reported bool
}

// phase is how an origin's records are served.
type phase uint8

const (
	phaseLive      phase = iota // owner alive (or never reported): served fresh
	phaseStale                  // owner failed, within grace or held by self-preservation: served stale
	phaseExpired                // owner failed, past grace: served only by stale-over-empty
	phaseWithdrawn              // owner left, or failed longer than StaleMaxAge: not served
)

// PreservationState describes self-preservation (see Config.MassFailureFraction).
type PreservationState struct {
	Active      bool      `json:"active"`
	Since       time.Time `json:"since"`       // when it engaged (zero if never)
	Unreachable int       `json:"unreachable"` // origins currently failed and not reaped
	Known       int       `json:"known"`       // alive + unreachable origins, self included
}

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
	b := c.newBatch()
	b.now = now
	c.setMemberLocked(b, node, st)
	c.commit(b)
}

// setMemberLocked records membership news of node and merges its quarantined
// deltas. mu held.
func (c *Catalog) setMemberLocked(b *batch, node string, st memberState) {
	m := c.members[node]
	if m == nil {
		m = &member{state: memberAlive}
		c.members[node] = m
	}
	if m.reported {
		m.reported = false
		c.reported--
	} else if m.state == st && m.since != (time.Time{}) {
		return
	}
	m.state, m.since = st, b.now
	c.log.Debug().Str("node", node).Str("state", memberStateNames[st]).Msg("member")
	c.release(b, node)
	c.updatePreservation(b.now)
	c.updatePhases(b)
}

// SyncMembers reconciles the membership news with the current live members
// (the agent calls it every tick with gossip's member list): a live member the
// catalog has no news of yet (its join event is still queued) counts as alive
// news now, so its quarantined deltas are merged without waiting.
func (c *Catalog) SyncMembers(live []string) {
	now := c.cfg.Now()
	c.mu.Lock()
	defer c.mu.Unlock()
	b := c.newBatch()
	b.now = now
	for _, n := range live {
		if !c.known(n) {
			c.setMemberLocked(b, n, memberAlive)
		}
	}
	c.commit(b)
}

// Tick advances time-driven state: lease expiry, self-preservation, reaping of
// long-dead origins, tombstone collection. The agent calls it every second (or
// so); it takes the catalog's lock briefly and never blocks otherwise.
func (c *Catalog) Tick() {
	now := c.cfg.Now()
	c.mu.Lock()
	defer c.mu.Unlock()
	c.updatePreservation(now)
	b := c.newBatch()
	b.now = now
	c.updatePhases(b)
	c.reap(b)
	c.forget(b)
	c.expireHeld(now)
	c.compact(now)
	c.maxEpoch = c.epochLimit(now)
	c.commit(b)
}

// phaseAt computes the phase of member m at now. mu held.
func (c *Catalog) phaseAt(m *member, now time.Time) phase {
	switch m.state {
	case memberAlive:
		return phaseLive
	case memberLeft:
		return phaseWithdrawn
	}
	age := now.Sub(m.since)
	if m.reported {
		if age < c.cfg.StaleMaxAge {
			return phaseExpired
		}
		return phaseWithdrawn
	}
	switch {
	case age < c.cfg.LeaseGrace:
		return phaseStale
	case c.preserve.Active && c.preserve.Since.Sub(m.since) < max(c.cfg.LeaseGrace, c.cfg.MassFailureWindow):
		// Failed in the mass disappearance (within the window before it was
		// recognized, or since), or still within grace then: held. SWIM
		// detects each member on its own, so one event's failures can lie
		// further apart than the grace.
		return phaseStale
	case age < c.cfg.StaleMaxAge:
		return phaseExpired
	}
	return phaseWithdrawn
}

// phaseOf returns the phase of origin's records and the failure time (zero
// when live). mu held.
func (c *Catalog) phaseOf(origin string) (phase, time.Time) {
	m := c.members[origin]
	if m == nil || m.state == memberAlive {
		return phaseLive, time.Time{}
	}
	return m.phase, m.since
}

// updatePhases recomputes every member's phase and marks the services of the
// origins whose phase changed. mu held.
func (c *Catalog) updatePhases(b *batch) {
	for name, m := range c.members {
		p := c.phaseAt(m, b.now)
		if p != m.phase {
			m.phase = p
			c.markOrigin(b, name)
		}
	}
}

// updatePreservation engages or releases self-preservation. mu held.
func (c *Catalog) updatePreservation(now time.Time) {
	known, unreachable, recent := 1, 0, 0
	for _, m := range c.members {
		switch {
		case m.state == memberAlive:
			known++
		case m.state == memberFailed && now.Sub(m.since) < c.cfg.ReapAfter:
			known++
			unreachable++
			if now.Sub(m.since) < c.cfg.MassFailureWindow {
				recent++
			}
		}
	}
	p := &c.preserve
	p.Known, p.Unreachable = known, unreachable
	f := c.cfg.MassFailureFraction
	if f == 0 {
		return
	}
	switch {
	case !p.Active && recent >= c.cfg.MassFailureMin && float64(recent) >= f*float64(known):
		p.Active, p.Since = true, now
		c.log.Warn().Int("unreachable", unreachable).Int("known", known).Int("recent_failures", recent).
			Msg("self-preservation engaged: many origins unreachable at once, holding their records stale")
	case p.Active && float64(unreachable) < f*float64(known):
		p.Active = false
		c.log.Info().Int("unreachable", unreachable).Int("known", known).Msg("self-preservation released: origins recovered")
	case p.Active && now.Sub(p.Since) >= c.cfg.PreservationMax:
		p.Active = false
		c.log.Warn().Dur("held", now.Sub(p.Since)).Msg("self-preservation released: cap reached")
	}
}

// Preservation returns the self-preservation state.
func (c *Catalog) Preservation() PreservationState {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.preserve
}

// reap drops the records of origins failed or left longer than ReapAfter
// (also records that peers sent again after an earlier reap). mu held.
func (c *Catalog) reap(b *batch) {
	for name, m := range c.members {
		if m.state == memberAlive || b.now.Sub(m.since) < c.cfg.ReapAfter {
			continue
		}
		if c.state.Position(name).Epoch == 0 {
			continue
		}
		c.applyChanges(b, c.state.Reap(name))
		delete(c.samples, name)
		c.log.Info().Str("node", name).Str("state", memberStateNames[m.state]).Msg("reaped origin")
	}
}

// sample is an origin's applied seq at a time, for tombstone collection.
type sample struct {
	at      time.Time
	epoch   uint64
	applied uint64
}

// compact records each origin's applied seq every TombstoneHorizon/8 and
// collects tombstones up to the seq recorded a horizon ago (see
// crdt.State.Compact). mu held.
func (c *Catalog) compact(now time.Time) {
	every := c.cfg.TombstoneHorizon / 8
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
