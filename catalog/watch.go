package catalog

import (
	"context"
	"errors"
	"sync"
)

// ErrSlowSubscriber is reported by Subscription.Err when the subscriber's
// buffer filled up and it was dropped; it should resynchronise (re-read the
// service and subscribe again).
var ErrSlowSubscriber = errors.New("catalog: subscriber too slow, dropped")

// ChangeType says whether a Change adds/updates or removes an instance.
type ChangeType uint8

// Change types; their text form is "upsert" and "delete".
const (
	ChangeUpsert ChangeType = iota + 1
	ChangeDelete
)

// String returns "upsert" or "delete".
func (t ChangeType) String() string {
	switch t {
	case ChangeUpsert:
		return "upsert"
	case ChangeDelete:
		return "delete"
	}
	return "unknown"
}

// MarshalText implements encoding.TextMarshaler.
func (t ChangeType) MarshalText() ([]byte, error) { return []byte(t.String()), nil }

// Change is one change of a service's served set (live and stale records, any
// health; expired records leave it with a delete). For a delete, Entry is the
// instance as it was last served. Entry is shared: read-only.
type Change struct {
	Index   uint64     `json:"index"`
	Type    ChangeType `json:"type"`
	Service string     `json:"service"`
	Entry   *Entry     `json:"instance"`
}

// Index returns the change index of service: the global index of its last
// change, 0 for a service never seen. Lock-free.
func (c *Catalog) Index(service string) uint64 {
	s := c.snap.Load().services[service]
	if s == nil {
		return 0
	}
	return s.view.Load().index
}

// GlobalIndex returns the catalog-wide change index: it grows by one with each
// batch of visible changes (a merge, a local write, a lease transition) and
// starts at 1. A service that appears after GlobalIndex was read appears at a
// higher index (commit publishes a new service before the index), so a
// blocking query on a service not seen yet can wait on GlobalIndex.
func (c *Catalog) GlobalIndex() uint64 { return c.index.Load() }

// Wait blocks until the index of service exceeds after, then returns it. It
// wakes only for changes of that service (of its served set, any health, or
// its stale-over-empty fallback). It returns ctx's error when ctx ends and
// ErrClosed after Close, each with the service's current index.
func (c *Catalog) Wait(ctx context.Context, service string, after uint64) (uint64, error) {
	for {
		snap := c.snap.Load()
		s := snap.services[service]
		if s == nil {
			select {
			case <-snap.grown:
				continue
			case <-ctx.Done():
				return 0, ctx.Err()
			case <-c.done:
				return 0, ErrClosed
			}
		}
		v := s.view.Load()
		if v.index > after {
			return v.index, nil
		}
		select {
		case <-v.changed:
		case <-ctx.Done():
			return v.index, ctx.Err()
		case <-c.done:
			return v.index, ErrClosed
		}
	}
}

// Subscription is a change feed (for the HTTP stream). Read C until it is
// closed, then see Err.
type Subscription struct {
	C <-chan Change

	c       chan Change
	service string
	owner   *Catalog
	mu      sync.Mutex
	err     error
}

// Subscribe returns a feed of the changes of service ("" for every service),
// buffered for buf changes (min 1). The catalog never blocks on a subscriber:
// one whose buffer is full is dropped (C closed, Err = ErrSlowSubscriber).
// To resume without a gap: subscribe first, then read the service with
// HealthAny and skip changes whose Index is not above the result's Index.
func (c *Catalog) Subscribe(service string, buf int) *Subscription {
	ch := make(chan Change, max(buf, 1))
	s := &Subscription{C: ch, c: ch, service: service, owner: c}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		s.err = ErrClosed
		close(ch)
		return s
	}
	c.subs[s] = struct{}{}
	return s
}

// Cancel stops the feed and closes C (Err then returns nil). Idempotent.
func (s *Subscription) Cancel() {
	s.owner.mu.Lock()
	defer s.owner.mu.Unlock()
	s.owner.dropSub(s, nil)
}

// Err returns why C was closed: nil after Cancel, ErrSlowSubscriber, or
// ErrClosed.
func (s *Subscription) Err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

// dropSub removes s and closes its channel. owner's mu held.
func (c *Catalog) dropSub(s *Subscription, err error) {
	if _, ok := c.subs[s]; !ok {
		return
	}
	delete(c.subs, s)
	s.mu.Lock()
	s.err = err
	s.mu.Unlock()
	close(s.c)
}

// notify hands changes to subscribers without blocking. mu held.
func (c *Catalog) notify(changes []Change) {
	if len(c.subs) == 0 {
		return
	}
	for s := range c.subs {
		for _, ch := range changes {
			if s.service != "" && s.service != ch.Service {
				continue
			}
			select {
			case s.c <- ch:
			default:
				c.log.Warn().Str("service", s.service).Msg("dropping slow subscriber")
				c.dropSub(s, ErrSlowSubscriber)
			}
			if _, ok := c.subs[s]; !ok {
				break
			}
		}
	}
}
