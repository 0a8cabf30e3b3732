package catalog

import (
	"fmt"
	"hash/crc32"
	"slices"

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
		if svc := c.byService[r.Service]; svc == nil || svc.recs[recKey{origin, e.Key}] == nil || svc.recs[recKey{origin, e.Key}].raw != r {
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
	for name, svc := range c.byService {
		s += len(svc.recs)
		if len(svc.recs) == 0 {
			return fmt.Errorf("empty service %s kept", name)
		}
		for k, r := range svc.recs {
			if r.raw == nil {
				return fmt.Errorf("removed record %s/%s of %s not published", k.origin, k.key, name)
			}
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
		live, fallback, sum := c.recompute(name)
		got := c.buildData(name)
		if !sameEntries(got.live, live) || !sameEntries(got.fallback, fallback) {
			return fmt.Errorf("published state of %s differs from its records", name)
		}
		if d := v.data.Load(); d != nil && (!sameEntries(d.live, live) || !sameEntries(d.fallback, fallback)) {
			return fmt.Errorf("view of %s is stale", name)
		}
		want, vs := sum, v.summary
		want.Expired, vs.Expired, want.Name, want.Index, vs.Index = 0, 0, name, 0, 0
		if vs != want {
			return fmt.Errorf("summary of %s: view %+v, records %+v", name, vs, want)
		}
		if svc := c.byService[name]; svc != nil && svc.sum.Expired != sum.Expired {
			return fmt.Errorf("summary of %s: %d expired, records %d", name, svc.sum.Expired, sum.Expired)
		}
	}
	return nil
}

// recompute derives a service's served set, fallback and counts from the
// records and their origins' phases, as a full rebuild would. mu held.
func (c *Catalog) recompute(name string) (live, fallback []*Entry, sum ServiceSummary) {
	if svc := c.byService[name]; svc != nil {
		for k, r := range svc.recs {
			ph, since := c.phaseOf(k.origin)
			e := r.raw
			switch ph {
			case phaseLive:
			case phaseStale, phaseExpired:
				e = staleCopy(e, since)
			default:
				sum.count(classWithdrawn, nil, 1)
				continue
			}
			if ph == phaseExpired {
				fallback = append(fallback, e)
				sum.count(classFallback, e, 1)
				continue
			}
			live = append(live, e)
			sum.count(classLive, e, 1)
		}
	}
	slices.SortFunc(live, less)
	slices.SortFunc(fallback, less)
	return live, fallback, sum
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
	return c.state.Gone(), len(c.lease.members)
}

// LogLine frames json as one registrations log line (checksum, json, newline).
func LogLine(json string) []byte {
	js := []byte(json)
	out := fmt.Appendf(nil, "%08x ", crc32.Checksum(js, crcTable))
	return append(append(out, js...), '\n')
}

// LogAppends returns how many appends (write + fsync) the registrations log
// took; SetBeforeAppend sets a function run before each (nil: none). Call it
// before the writes it is to see.
func (c *Catalog) LogAppends() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	for c.ops.flushing {
		c.ops.cond.Wait()
	}
	return c.store.appends
}

func (c *Catalog) SetBeforeAppend(f func()) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.store.beforeAppend = f
}

// BreakLog closes the registrations log's file under the catalog, so the next
// append fails as a disk error would.
func (c *Catalog) BreakLog() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for c.ops.flushing {
		c.ops.cond.Wait()
	}
	c.store.f.Close()
}

// Crash releases the data directory's lock as the death of the process
// would, and touches nothing else: the catalog stays open, as a crashed one
// leaves its files.
func (c *Catalog) Crash() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.store.lock != nil {
		c.store.lock.Close()
		c.store.lock = nil
	}
}
