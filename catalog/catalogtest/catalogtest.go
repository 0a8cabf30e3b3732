// Package catalogtest holds helpers for tests that use a catalog.Catalog: a
// settable clock, instance builders and a direct (network-free) delta pipe
// between catalogs.
package catalogtest

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/grapevine-sd/grapevine/catalog"
	"github.com/grapevine-sd/grapevine/crdt"
)

// Clock is a manually advanced clock for Config.Now. Safe for concurrent use.
type Clock struct {
	mu  sync.Mutex
	now time.Time
}

// NewClock returns a clock set to a fixed instant.
func NewClock() *Clock {
	return &Clock{now: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
}

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Advance moves the clock forward by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// Config returns a catalog config for node using clock (DataDir empty).
func Config(node string, clock *Clock) catalog.Config {
	cfg := catalog.DefaultConfig()
	cfg.Node = node
	if clock != nil {
		cfg.Now = clock.Now
	}
	return cfg
}

// New returns a catalog for node on clock, closed when the test ends.
func New(t testing.TB, node string, clock *Clock) *catalog.Catalog {
	t.Helper()
	c, err := catalog.New(Config(node, clock))
	if err != nil {
		t.Fatalf("catalog.New(%q): %v", node, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// Instance returns a valid passing instance of service with the given ID.
func Instance(service, id string, port int, tags ...string) catalog.Instance {
	return catalog.Instance{
		ID: id, Service: service, Address: "10.0.0.1", Port: port, Tags: tags,
		Health: catalog.HealthPassing,
	}
}

// Instances returns n instances of service with IDs service-0 ...
func Instances(service string, n int) []catalog.Instance {
	out := make([]catalog.Instance, n)
	for i := range out {
		out[i] = Instance(service, fmt.Sprintf("%s-%d", service, i), 8000+i)
	}
	return out
}

// Sync exchanges departure news and deltas between catalogs until every
// digest is covered: anti-entropy without a network, as gossip does it. budget is the per-delta byte budget. A
// catalog holds no records of an origin it has no membership news of: call
// Members first where the catalogs have not been told about each other.
func Sync(t testing.TB, budget int, cs ...*catalog.Catalog) {
	t.Helper()
	for range 4 {
		for _, a := range cs {
			for _, b := range cs {
				if a == b {
					continue
				}
				dg := b.Digest()
				b.LearnDepartures(a.Node(), a.Departures(dg))
				for _, d := range a.DeltaSince(dg, budget) {
					if _, err := b.Merge(d); err != nil && !errors.Is(err, catalog.ErrUnknownOrigin) {
						t.Fatalf("merge %s→%s: %v", a.Node(), b.Node(), err)
					}
				}
			}
		}
	}
}

// Members tells every catalog that the others are alive members.
func Members(cs ...*catalog.Catalog) {
	for _, a := range cs {
		for _, b := range cs {
			if a != b {
				b.MemberAlive(a.Node())
			}
		}
	}
}

// Pipe makes every delta from's publisher emits merge into each of to,
// synchronously (eager push without a network); each of to is told that from
// is an alive member.
func Pipe(t testing.TB, from *catalog.Catalog, to ...*catalog.Catalog) {
	for _, c := range to {
		c.MemberAlive(from.Node())
	}
	from.SetPublisher(func(d crdt.Delta) {
		for _, c := range to {
			if _, err := c.Merge(d); err != nil {
				t.Errorf("pipe %s→%s: %v", from.Node(), c.Node(), err)
			}
		}
	})
}
