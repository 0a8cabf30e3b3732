package catalog

import (
	"fmt"

	"github.com/grapevine-sd/grapevine/crdt"
)

// CheckInvariants verifies that the decoded records, the service index, the
// interner and the views agree with the crdt state. For tests.
func (c *Catalog) CheckInvariants() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for origin, e := range c.state.All() {
		r := c.records[origin][e.Key]
		if _, err := decodeValue(origin, e.Key, e.Value); err != nil {
			if r != nil {
				return fmt.Errorf("undecodable %s/%s indexed", origin, e.Key)
			}
			continue
		}
		n++
		if r == nil {
			return fmt.Errorf("record %s/%s missing", origin, e.Key)
		}
		if r.Version.Seq != e.Seq || r.Version.Epoch != c.state.Position(origin).Epoch {
			return fmt.Errorf("record %s/%s version %+v, crdt seq %d", origin, e.Key, r.Version, e.Seq)
		}
		if c.byService[r.Service][recKey{origin, e.Key}] != r {
			return fmt.Errorf("record %s/%s not in service %s", origin, e.Key, r.Service)
		}
	}
	m, tags, meta := 0, 0, 0
	for _, recs := range c.records {
		m += len(recs)
		for _, r := range recs {
			if len(r.Tags) > 0 {
				tags++
			}
			if len(r.Meta) > 0 {
				meta++
			}
		}
	}
	s := 0
	for name, recs := range c.byService {
		s += len(recs)
		if len(recs) == 0 {
			return fmt.Errorf("empty service %s kept", name)
		}
	}
	if m != n || s != n {
		return fmt.Errorf("%d decodable entries, %d records, %d indexed", n, m, s)
	}
	it, im := 0, 0
	for _, t := range c.intern.tags {
		it += t.n
	}
	for _, x := range c.intern.meta {
		im += x.n
	}
	if it != tags || im != meta {
		return fmt.Errorf("interner refs %d/%d, records with tags/meta %d/%d", it, im, tags, meta)
	}
	for name, sl := range c.snap.Load().services {
		v := sl.view.Load()
		fresh := c.build(name, c.newBatch())
		if !sameEntries(v.live, fresh.live) || !sameEntries(v.fallback, fresh.fallback) {
			return fmt.Errorf("view of %s is stale", name)
		}
	}
	return nil
}

// State exposes the crdt state for tests (mu must not be held by the caller).
func (c *Catalog) WithState(f func(*crdt.State)) {
	c.mu.Lock()
	defer c.mu.Unlock()
	f(c.state)
}

// Quarantined returns how many origins and bytes are held in quarantine.
func (c *Catalog) Quarantined() (origins, bytes int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.held), c.heldBytes
}

// Floors returns how many epoch floors of reaped origins are remembered and
// how many membership records are kept.
func (c *Catalog) Floors() (floors, members int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.state.Gone(), len(c.members)
}
