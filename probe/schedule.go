package probe

import (
	"context"
	"fmt"
	"time"
)

// outcome is one finished probe.
type outcome struct {
	status  Status
	output  string
	started time.Time
}

// loop is the one goroutine of a check. It starts probes on the check's
// schedule (one at a time: a slow probe delays the next, it never overlaps),
// watches them (watchdog), expires TTLs and fires OnDeregister. It returns when
// ctx is canceled (Remove, replacement or Close).
func (r *Runner) loop(ctx context.Context, e *entry, firstRun time.Time) {
	defer r.wg.Done()
	c := e.check
	nextRun := firstRun
	var (
		results    chan outcome // non-nil while a probe runs
		watchdogAt time.Time    // zero when not armed (idle, or already fired)
	)
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		now := time.Now()
		if c.Type != TTL && results == nil && !now.Before(nextRun) {
			results = make(chan outcome, 1)
			watchdogAt = now.Add(c.Timeout + r.cfg.WatchdogGrace)
			r.wg.Add(1)
			go r.runProbe(ctx, e, now, results)
		}
		r.mu.Lock()
		if !r.live(e) {
			r.mu.Unlock()
			return
		}
		if results != nil && !watchdogAt.IsZero() && !now.Before(watchdogAt) {
			watchdogAt = time.Time{}
			e.successes = 0
			r.log.Warn().Str("check_id", c.ID).Str("owner", e.owner).Msg("probe stuck")
			r.setLocked(e, Critical, fmt.Sprintf("probe stuck: no result %s after start (timeout %s)", c.Timeout+r.cfg.WatchdogGrace, c.Timeout), now)
		}
		if c.Type == TTL && !e.expired && !now.Before(e.expires) {
			e.expired = true
			r.setLocked(e, Critical, fmt.Sprintf("ttl expired: not updated within %s", c.TTL), now)
		}
		dca := c.DeregisterCriticalAfter
		if dca > 0 && e.state == Critical && !e.deregSent && now.Sub(e.criticalSince) >= dca {
			e.deregSent = true
			r.queueLocked(event{deregister: true, result: e.resultLocked(e.state)})
		}
		var deadline time.Time
		soonest := func(t time.Time) {
			if !t.IsZero() && (deadline.IsZero() || t.Before(deadline)) {
				deadline = t
			}
		}
		switch {
		case c.Type == TTL:
			if !e.expired {
				soonest(e.expires)
			}
		case results == nil:
			soonest(nextRun)
		default:
			soonest(watchdogAt)
		}
		if dca > 0 && e.state == Critical && !e.deregSent {
			soonest(e.criticalSince.Add(dca))
		}
		r.mu.Unlock()

		var timerC <-chan time.Time
		if !deadline.IsZero() {
			timer.Reset(time.Until(deadline))
			timerC = timer.C
		}
		select {
		case <-ctx.Done():
			return
		case <-e.wake:
		case <-timerC:
		case o := <-results:
			results, watchdogAt = nil, time.Time{}
			r.mu.Lock()
			if r.live(e) {
				r.recordLocked(e, o.status, o.output, time.Now())
			}
			r.mu.Unlock()
			nextRun = o.started.Add(c.Interval)
		}
	}
}

// runProbe runs one probe under the check's timeout and hands the outcome to
// the loop (the channel has room for it, so this never blocks).
func (r *Runner) runProbe(ctx context.Context, e *entry, started time.Time, out chan<- outcome) {
	defer r.wg.Done()
	pctx, cancel := context.WithTimeout(ctx, e.check.Timeout)
	defer cancel()
	st, text := e.probe(pctx)
	out <- outcome{status: st, output: text, started: started}
}
