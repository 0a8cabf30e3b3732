package render

import (
	"cmp"
	"context"
	"fmt"
	"reflect"
	"slices"
	"time"

	"github.com/grapevine-sd/grapevine/api"
	"github.com/rs/zerolog"
)

// depKind is what a template function reads from the agent.
type depKind uint8

const (
	depService  depKind = iota // service NAME: its instances, all health states
	depServices                // services: the summaries
	depMembers                 // members
)

// dep is one dependency of a template: a lookup the engine keeps current.
type dep struct {
	kind depKind
	name string // the service, for depService
}

func (d dep) String() string {
	switch d.kind {
	case depService:
		return fmt.Sprintf("service %q", d.name)
	case depServices:
		return "services"
	default:
		return "members"
	}
}

// fetch reads d from the agent once. For a service, index > 0 makes it a
// blocking query of at most wait; the service's index is returned (0 for
// the other kinds). A service is read in every health state and sorted by
// node and id: the template's filters apply locally, so one query serves
// every call of the service whatever its filters.
func fetch(ctx context.Context, a Agent, d dep, index uint64, wait time.Duration) (any, uint64, error) {
	var v any
	var err error
	switch d.kind {
	case depService:
		var insts []api.Instance
		var meta api.QueryMeta
		insts, meta, err = a.Service(ctx, d.name, api.QueryOptions{Health: api.HealthAny, Index: index, Wait: wait})
		if err == nil {
			slices.SortFunc(insts, func(a, b api.Instance) int {
				return cmp.Or(cmp.Compare(a.Node, b.Node), cmp.Compare(a.ID, b.ID))
			})
			return insts, meta.Index, nil
		}
	case depServices:
		var ss []api.ServiceSummary
		ss, err = a.Services(ctx)
		slices.SortFunc(ss, func(a, b api.ServiceSummary) int { return cmp.Compare(a.Name, b.Name) })
		v = ss
	case depMembers:
		var ms []api.Member
		ms, err = a.Members(ctx)
		slices.SortFunc(ms, func(a, b api.Member) int { return cmp.Compare(a.Name, b.Name) })
		v = ms
	}
	if err != nil {
		return nil, 0, fmt.Errorf("%w: %s: %w", ErrLookup, d, err)
	}
	return v, 0, nil
}

// loop is a running watch of one dependency, owned by Run.
type loop struct {
	dep    dep
	cancel context.CancelFunc
}

// update is what a loop hands to Run: new data of its dependency.
type update struct {
	from  *loop
	value any
}

// watch keeps l's dependency current until ctx ends, sending each new value
// on updates. A service is followed with blocking queries; the service list
// and the members are polled every PollInterval and sent when they differ.
// Failures are retried with backoff and logged once per outage.
func (e *Engine) watch(ctx context.Context, l *loop, updates chan<- update) {
	log := e.log.With().Stringer("dependency", l.dep).Logger()
	service := l.dep.kind == depService
	var index uint64 // of the last answer
	var last any
	synced := false // the last lookup succeeded; the next one may block
	var backoff time.Duration
	early := 0 // blocking queries answered early in a row
	for {
		qIndex, qWait := index, e.cfg.QueryWait
		if !synced {
			qIndex = 0 // at once: the first lookup, or the first after a failure
		} else if service && index == 0 {
			// The agent answers a service it has not seen yet with the
			// global index, on which a blocking query waits for it to
			// appear; index 0 (which does not block) comes only from an
			// agent without that rule. Wait for an index above 1 then, for
			// at most PollInterval: should the service's first index be 1,
			// the answer after the wait still shows it.
			qIndex, qWait = 1, e.cfg.PollInterval
		}
		start := time.Now()
		v, idx, err := fetch(ctx, e.cfg.Agent, l.dep, qIndex, qWait)
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			backoff = min(max(2*backoff, e.cfg.RetryMin), e.cfg.RetryMax)
			lvl := zerolog.DebugLevel
			if backoff == e.cfg.RetryMin {
				lvl = zerolog.WarnLevel // the first failure of an outage
			}
			log.WithLevel(lvl).Err(err).Dur("retry_in", backoff).Msg("agent lookup failed; files keep their content")
			synced = false // start over: a restarted agent counts from scratch
			if !sleep(ctx, backoff) {
				return
			}
			continue
		}
		if backoff > 0 {
			log.Info().Msg("agent answers again")
			backoff = 0
		}
		changed := !synced || (service && idx != index)
		// Poll what has no blocking form. A service whose agent answered a
		// blocking query with the same index long before the wait was up is
		// polled too, a little slower each time it happens again: an agent
		// that is shutting down does that once, one that does not block (a
		// proxy in between, or not Grapevine's) every time.
		pause := e.cfg.PollInterval
		poll := !service
		if service && synced && idx == index && time.Since(start) < qWait/2 {
			poll = true
			early++
			pause = min(e.cfg.RetryMin<<min(early-1, 20), e.cfg.PollInterval)
		} else if service {
			early = 0
		}
		if poll {
			changed = changed || !reflect.DeepEqual(v, last)
		}
		index, last, synced = idx, v, true
		if changed {
			select {
			case updates <- update{from: l, value: v}:
			case <-ctx.Done():
				return
			}
		}
		if poll && !sleep(ctx, pause) {
			return
		}
	}
}

// sleep waits d or until ctx ends; false when ctx ended.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
