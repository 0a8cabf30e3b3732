package catalog

import (
	"fmt"
	"hash/crc32"
	"maps"
	"slices"

	"github.com/grapevine-sd/grapevine/crdt"
)

// CheckInvariants verifies that the services' records, the counts and the
// views agree with the crdt state. For tests.
func (c *Catalog) CheckInvariants() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	perOrigin := map[string]int{}
	for origin, e := range c.state.All() {
		in, err := decodeValue(origin, e.Key, e.Value)
		if err != nil {
			continue
		}
		n++
		perOrigin[origin]++
		svc := c.byService[in.Service]
		if svc == nil {
			return fmt.Errorf("record %s/%s: no service %s", origin, e.Key, in.Service)
		}
		id, known := c.origins.ids[origin]
		k := svcKey{e.Key, id}
		r, ok := svc.recs.Get(k)
		switch {
		case !known || !ok:
			return fmt.Errorf("record %s/%s not in service %s", origin, e.Key, in.Service)
		case !r.has(recPresent) || r.has(recDirty):
			return fmt.Errorf("record %s/%s: flags %b after commit", origin, e.Key, r.flags)
		case r.health != in.Health || r.pubHealth != in.Health:
			return fmt.Errorf("record %s/%s: health %v, published %v, crdt %v", origin, e.Key, r.health, r.pubHealth, in.Health)
		}
		shown := r.class == classLive || r.class == classFallback
		pub := svc.entry(k)
		switch {
		case svc.hot() && shown != (pub != nil):
			return fmt.Errorf("record %s/%s of hot service %s: class %d, entry %v", origin, e.Key, in.Service, r.class, pub != nil)
		case pub != nil && (pub.Version.Seq != e.Seq || pub.Version.Epoch != c.state.Position(origin).Epoch || pub.Stale != r.has(recPubStale) || pub.ID != e.Key || pub.Node != origin):
			return fmt.Errorf("record %s/%s serves %s/%s version %+v (stale %v), crdt seq %d", origin, e.Key, pub.Node, pub.ID, pub.Version, pub.Stale, e.Seq)
		}
	}
	s := 0
	refs := map[originID]int32{}
	for name, svc := range c.byService {
		s += svc.recs.Len()
		if svc.recs.Len() == 0 {
			return fmt.Errorf("empty service %s kept", name)
		}
		if svc.hot() && svc.served.Len() > svc.recs.Len() {
			return fmt.Errorf("service %s keeps %d entries for %d records", name, svc.served.Len(), svc.recs.Len())
		}
		for _, x := range svc.recs.Entries() {
			refs[x.Key.origin]++
		}
	}
	for id, n := range c.origins.refs {
		if n != refs[originID(id)] || (n == 0) != (c.origins.names[id] == "") {
			return fmt.Errorf("origin %d (%q) counts %d records, services hold %d", id, c.origins.names[id], n, refs[originID(id)])
		}
	}
	if len(c.origins.ids)+len(c.origins.free) != len(c.origins.names) {
		return fmt.Errorf("origin table: %d named, %d free, %d numbers", len(c.origins.ids), len(c.origins.free), len(c.origins.names))
	}
	if s != n {
		return fmt.Errorf("%d decodable entries, %d indexed", n, s)
	}
	counts := map[string]int{}
	for name := range c.origins.ids {
		counts[name] = c.origins.records(name)
	}
	if !maps.Equal(perOrigin, counts) {
		return fmt.Errorf("counts %v, records per origin %v", counts, perOrigin)
	}
	for name, sl := range c.snap.Load().services {
		v := sl.view.Load()
		live, fallback, sum := c.recompute(name)
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
// crdt and the origins' phases, as a full rebuild would. mu held.
func (c *Catalog) recompute(name string) (live, fallback []*Entry, sum ServiceSummary) {
	if svc := c.byService[name]; svc != nil {
		for _, ent := range svc.recs.Entries() {
			k := ent.Key
			origin := c.origins.name(k.origin)
			ph, since := c.phaseOf(origin)
			cur, _ := c.state.Get(origin, k.key)
			e := c.decode(origin, k.key, cur.Value, cur.Seq)
			if e == nil {
				continue
			}
			switch ph {
			case phaseLive:
			case phaseStale, phaseExpired:
				e = staleCopy(e, since)
			default:
				sum.count(classWithdrawn, false, e.Health, 1)
				continue
			}
			if ph == phaseExpired {
				fallback = append(fallback, e)
				sum.count(classFallback, true, e.Health, 1)
				continue
			}
			live = append(live, e)
			sum.count(classLive, e.Stale, e.Health, 1)
		}
	}
	slices.SortFunc(live, less)
	slices.SortFunc(fallback, less)
	return live, fallback, sum
}

// HotServices returns how many services keep decoded entries.
func (c *Catalog) HotServices() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, svc := range c.byService {
		if svc.hot() {
			n++
		}
	}
	return n
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
