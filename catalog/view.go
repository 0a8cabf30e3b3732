package catalog

import (
	"cmp"
	"slices"
	"sync/atomic"
	"time"

	"github.com/grapevine-sd/grapevine/internal/densemap"
)

// How a service's answers are kept, and why (docs/architecture.md, "Views"):
//
// A change costs O(records it touches), whatever the size of its service. The
// catalog keeps, per record, the state it last published (its class and the
// entry it serves); commit compares each touched record's current state with
// it, updates the service's summary counts, emits subscriber changes and, when
// something visible changed, installs a new view: an index, a change channel
// and the summary, with no answer set yet. The sorted answer set (viewData) is
// built at most once per view, by the first lookup that needs it, under the
// catalog's lock; every later lookup reads it without a lock. A service that
// changes often and is read rarely never pays for sorting, and one that is read
// often pays once per change.

// snapshot is the immutable map of services that queries read without a lock.
// It is replaced (copy-on-write) only when a service appears; a service's
// content changes by swapping its slot's view.
type snapshot struct {
	services map[string]*slot
	grown    chan struct{} // closed when a newer snapshot replaces this one
}

// slot holds the current view of one service.
type slot struct {
	view atomic.Pointer[view]
	read atomic.Bool // a lookup read the service since cool last looked
}

// view is one published state of a service: its index and summary at once;
// the answer set is built on first use.
type view struct {
	name    string
	index   uint64 // global index of the view's last change
	summary ServiceSummary
	changed chan struct{} // closed when a newer view replaces this one
	data    atomic.Pointer[viewData]
}

// viewData is an immutable, precomputed answer set for one view.
type viewData struct {
	// live holds the served records (owner alive, or failed within grace or
	// held by self-preservation), any health, sorted by (Node, ID).
	live []*Entry
	// fallback holds expired records of failed owners within StaleMaxAge,
	// served only when a query finds nothing in live.
	fallback []*Entry
	// def is the answer to the default query (HealthDefault, no other filter).
	def         []*Entry
	defFallback bool // def came from fallback
	defAged     bool // def holds stale entries: Age is filled per query
	// idx indexes the default-health subset of live by tag, zone, node and
	// meta pair; built by the first filtered query.
	idx atomic.Pointer[filterIndex]
	// filters remembers the answers to other filters (filtercache.go).
	filters atomic.Pointer[filterCache]
}

// class is how a record is served.
type class uint8

const (
	classAbsent    class = iota // no record (removed)
	classLive                   // in the served set (fresh or stale)
	classFallback               // served only by stale-over-empty
	classWithdrawn              // held, not served
)

// count adds (d = 1) or removes (d = -1) one published state from a summary.
func (s *ServiceSummary) count(cl class, stale bool, h Health, d int) {
	switch cl {
	case classLive:
		s.Instances += d
		if stale {
			s.Stale += d
		}
		switch h {
		case HealthPassing:
			s.Passing += d
		case HealthWarning:
			s.Warning += d
		case HealthCritical:
			s.Critical += d
		case HealthMaintenance:
			s.Maintenance += d
		}
	case classFallback, classWithdrawn:
		s.Expired += d
	}
}

// commit republishes the records b touched: it updates their services'
// summaries, installs a new view for every service whose served set or
// fallback changed, all under one new global index, and feeds subscribers.
// Its cost is O(records touched). mu held.
func (c *Catalog) commit(b *batch) {
	if len(b.marks) == 0 {
		return
	}
	index := c.index.Load() + 1
	notices := len(c.subs) > 0
	var changes []Change
	var touched []string          // services whose view changes, in first-change order
	var inTouched map[string]bool // the same as a set, once touched is long
	for _, m := range b.marks {
		svc := c.byService[m.service]
		if svc == nil {
			continue
		}
		r := svc.recs.Ptr(m.key)
		if r == nil {
			continue
		}
		origin := c.origins.name(m.key.origin)
		cl, stale, since := c.classify(origin, r)
		oldCl, oldStale := r.class, r.has(recPubStale)
		shown := cl == classLive || cl == classFallback
		if !r.has(recDirty) && cl == oldCl && stale == oldStale {
			// Nothing visible changed; a hot service's stale copy follows a
			// new failure time (for Age).
			if pub := svc.entry(m.key); pub != nil && shown {
				svc.served.Set(m.key, c.servedEntry(b, m.key, r, pub, stale, since))
			}
			continue
		}
		svc.sum.count(oldCl, oldStale, r.pubHealth, -1)
		svc.sum.count(cl, stale, r.health, 1)
		visible := shown || oldCl == classLive || oldCl == classFallback
		if visible && !contains(touched, inTouched, m.service) {
			touched = append(touched, m.service)
			if inTouched != nil || len(touched) > 8 {
				if inTouched == nil {
					inTouched = make(map[string]bool, 2*len(touched))
					for _, t := range touched {
						inTouched[t] = true
					}
				}
				inTouched[m.service] = true
			}
		}
		var served *Entry
		if shown && (svc.hot() || notices) {
			served = c.servedEntry(b, m.key, r, svc.entry(m.key), stale, since)
		}
		if notices {
			switch {
			case oldCl == classLive && cl != classLive:
				changes = append(changes, Change{Index: index, Type: ChangeDelete, Service: m.service, Entry: c.publishedEntry(b, svc, m.key, r)})
			case cl == classLive && served != nil:
				changes = append(changes, Change{Index: index, Type: ChangeUpsert, Service: m.service, Entry: served})
			}
		}
		r.class, r.pubHealth = cl, r.health
		r.set(recPubStale, stale)
		r.set(recDirty, false)
		if svc.hot() {
			if served != nil {
				svc.served.Set(m.key, served)
			} else {
				svc.served.Delete(m.key)
			}
		}
		if cl == classAbsent {
			svc.recs.Delete(m.key)
			c.origins.release(m.key.origin)
			if svc.recs.Len() == 0 {
				delete(c.byService, m.service)
			}
		}
	}
	if len(touched) == 0 {
		return
	}
	snap := c.snap.Load()
	var grownTo *snapshot
	for _, name := range touched {
		nv := &view{name: name, index: index, changed: make(chan struct{})}
		if svc := c.byService[name]; svc != nil {
			nv.summary = svc.sum
		}
		nv.summary.Name = name
		s := snap.services[name]
		var old *view
		if s != nil {
			old = s.view.Load()
		} else {
			if grownTo == nil {
				grownTo = &snapshot{services: make(map[string]*slot, len(snap.services)+1), grown: make(chan struct{})}
				for k, v := range snap.services {
					grownTo.services[k] = v
				}
			}
			s = &slot{}
			grownTo.services[name] = s
		}
		s.view.Store(nv)
		if old != nil {
			close(old.changed)
		}
	}
	// The grown snapshot first, then the index: a reader that loads the index
	// and then the snapshot (Service, for a service not seen yet) either sees
	// the new service or an index below it.
	if grownTo != nil {
		c.snap.Store(grownTo)
		close(snap.grown)
	}
	c.index.Store(index)
	// Subscribers see each service's changes in (Node, ID) order.
	slices.SortStableFunc(changes, func(a, b Change) int {
		if c := cmp.Compare(a.Service, b.Service); c != 0 {
			return c
		}
		return less(a.Entry, b.Entry)
	})
	c.notify(changes)
}

// answers returns the current view of s with its answer set, building the set
// (under the lock) if no lookup has needed it yet.
func (c *Catalog) answers(s *slot) (*view, *viewData) {
	if !s.read.Load() {
		s.read.Store(true) // once per cool period: the line stays shared
	}
	v := s.view.Load()
	if d := v.data.Load(); d != nil {
		return v, d
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	// Under the lock the slot's view is the latest published one, and the
	// published record states are exactly what it shows.
	v = s.view.Load()
	if d := v.data.Load(); d != nil {
		return v, d
	}
	d := c.buildData(v.name)
	v.data.Store(d)
	return v, d
}

// buildData sorts the published states of service name into an answer set.
// mu held.
func (c *Catalog) buildData(name string) *viewData {
	d := &viewData{}
	if svc := c.byService[name]; svc != nil {
		if !svc.hot() {
			c.warm(svc)
		}
		d.live = make([]*Entry, 0, svc.sum.Instances)
		for _, x := range svc.served.Entries() {
			r, _ := svc.recs.Get(x.Key)
			if r.class == classLive {
				d.live = append(d.live, x.Val)
			} else {
				d.fallback = append(d.fallback, x.Val)
			}
		}
	}
	slices.SortFunc(d.live, less)
	slices.SortFunc(d.fallback, less)
	def := Filter{}
	d.def = def.appendMatches(nil, d.live)
	if len(d.def) == len(d.live) {
		d.def = d.live // share, the common case
	}
	if len(d.def) == 0 {
		d.def = def.appendMatches(nil, d.fallback)
		d.defFallback = len(d.def) > 0
	}
	d.defAged = slices.ContainsFunc(d.def, isStale)
	return d
}

// coolAfter is how long a hot service keeps its entries once no lookup reads
// it: then cool drops them and its answer set, and the next lookup decodes
// it again. An agent that once read every service (a dashboard, a dump) goes
// back to the compact records.
const coolAfter = 10 * time.Minute

// warm makes svc hot: it decodes the published entry of every served
// record, once (the first lookup of a service nobody read before). mu held.
func (c *Catalog) warm(svc *svcState) {
	m := densemap.New[svcKey, *Entry](svcKey.hash)
	svc.served = &m
	svc.readAt = c.cfg.Now()
	for _, x := range svc.recs.Entries() {
		k, r := x.Key, x.Val
		if r.class != classLive && r.class != classFallback {
			continue
		}
		_, since := c.phaseOf(c.origins.name(k.origin))
		if e := c.servedEntry(nil, k, &r, nil, r.has(recPubStale), since); e != nil {
			svc.served.Set(k, e)
		}
	}
}

// cool makes the services no lookup read for coolAfter cold again: their
// entries go, and their view is replaced by one without an answer set (same
// index, summary and change channel: no waiter wakes). It walks the services
// every coolAfter/4, from Tick. mu held.
func (c *Catalog) cool(now time.Time) {
	if now.Sub(c.cooled) < coolAfter/4 {
		return
	}
	c.cooled = now
	snap := c.snap.Load()
	for name, svc := range c.byService {
		s := snap.services[name]
		if !svc.hot() || s == nil {
			continue
		}
		if s.read.Swap(false) {
			svc.readAt = now
			continue
		}
		if now.Sub(svc.readAt) < coolAfter {
			continue
		}
		svc.served = nil
		v := s.view.Load()
		s.view.Store(&view{name: v.name, index: v.index, summary: v.summary, changed: v.changed})
	}
}

// filterIndex maps single-constraint filters with the default health to their
// answers, drawn from the default-health subset of live (each list sorted by
// (Node, ID), shared and read-only).
type filterIndex struct {
	tag  map[string][]*Entry
	zone map[string][]*Entry
	node map[string][]*Entry
	meta map[string]map[string][]*Entry
}

// index returns d's filter index, building it on first use (lock-free: two
// concurrent builders make the same index and one wins).
func (d *viewData) index() *filterIndex {
	if x := d.idx.Load(); x != nil {
		return x
	}
	x := &filterIndex{tag: map[string][]*Entry{}, zone: map[string][]*Entry{}, node: map[string][]*Entry{}, meta: map[string]map[string][]*Entry{}}
	for _, e := range d.live {
		if !HealthDefault.Match(e.Health) {
			continue
		}
		for _, t := range e.Tags {
			if l := x.tag[t]; len(l) == 0 || l[len(l)-1] != e { // a tag listed twice
				x.tag[t] = append(l, e)
			}
		}
		x.zone[e.Zone] = append(x.zone[e.Zone], e)
		x.node[e.Node] = append(x.node[e.Node], e)
		for k, v := range e.Meta {
			m := x.meta[k]
			if m == nil {
				m = map[string][]*Entry{}
				x.meta[k] = m
			}
			m[v] = append(m[v], e)
		}
	}
	if d.idx.CompareAndSwap(nil, x) {
		return x
	}
	return d.idx.Load()
}

// candidates returns the smallest index list that holds every answer of f
// (which has the default health); with one constraint, exactly its answers.
// ok is false when f has no indexed constraint.
func (x *filterIndex) candidates(f *Filter) (list []*Entry, ok bool) {
	pick := func(l []*Entry) {
		if !ok || len(l) < len(list) {
			list, ok = l, true
		}
	}
	for _, t := range f.Tags {
		pick(x.tag[t])
	}
	if f.Zone != "" {
		pick(x.zone[f.Zone])
	}
	if f.Node != "" {
		pick(x.node[f.Node])
	}
	for k, v := range f.Meta {
		pick(x.meta[k][v])
	}
	return list, ok
}

// contains reports whether name is in list, or in set once there is one (a
// change that touches many services, e.g. an origin's failure, stays linear).
func contains(list []string, set map[string]bool, name string) bool {
	if set != nil {
		return set[name]
	}
	return slices.Contains(list, name)
}

func sameEntry(a, b *Entry) bool {
	return a == b || (a.Node == b.Node && a.ID == b.ID && a.Version == b.Version && a.Stale == b.Stale)
}

func sameEntries(a, b []*Entry) bool {
	return slices.EqualFunc(a, b, sameEntry)
}
