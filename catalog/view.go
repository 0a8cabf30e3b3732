package catalog

import (
	"cmp"
	"slices"
	"sync/atomic"
	"time"
)

// snapshot is the immutable map of services that queries read without a lock.
// It is replaced (copy-on-write) only when a service appears; a service's
// content changes by swapping its slot's view.
type snapshot struct {
	services map[string]*slot
	grown    chan struct{} // closed when a newer snapshot replaces this one
}

// slot holds the current view of one service.
type slot struct{ view atomic.Pointer[view] }

// view is an immutable, precomputed answer set for one service.
type view struct {
	name  string
	index uint64 // global index of the view's last change
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
	summary     ServiceSummary
	changed     chan struct{} // closed when a newer view replaces this one
}

func less(a, b *Entry) int {
	if c := cmp.Compare(a.Node, b.Node); c != 0 {
		return c
	}
	return cmp.Compare(a.ID, b.ID)
}

// build computes the view of service name from the records. mu held.
func (c *Catalog) build(name string, b *batch) *view {
	v := &view{name: name, changed: make(chan struct{})}
	v.summary.Name = name
	for k, e := range c.byService[name] {
		ph, since := c.phaseOf(k.origin)
		switch ph {
		case phaseLive:
			v.live = append(v.live, e)
		case phaseStale:
			v.live = append(v.live, staleCopy(e, since))
			v.summary.Stale++
		case phaseExpired:
			v.fallback = append(v.fallback, staleCopy(e, since))
			v.summary.Expired++
		default:
			v.summary.Expired++
		}
	}
	slices.SortFunc(v.live, less)
	slices.SortFunc(v.fallback, less)
	for _, e := range v.live {
		v.summary.Instances++
		switch e.Health {
		case HealthPassing:
			v.summary.Passing++
		case HealthWarning:
			v.summary.Warning++
		case HealthCritical:
			v.summary.Critical++
		case HealthMaintenance:
			v.summary.Maintenance++
		}
	}
	def := Filter{}
	v.def = def.appendMatches(nil, v.live)
	if len(v.def) == len(v.live) {
		v.def = v.live // share, the common case
	}
	if len(v.def) == 0 {
		v.def = def.appendMatches(nil, v.fallback)
		v.defFallback = len(v.def) > 0
	}
	for _, e := range v.def {
		if e.Stale {
			v.defAged = true
			break
		}
	}
	return v
}

func staleCopy(e *Entry, since time.Time) *Entry {
	s := *e
	s.Stale = true
	s.since = since
	return &s
}

// commit rebuilds the views of the services b touched, publishes those that
// changed under one new global index, and feeds subscribers. mu held.
func (c *Catalog) commit(b *batch) {
	if len(b.dirty) == 0 {
		return
	}
	snap := c.snap.Load()
	index := c.index.Load() + 1
	var changes []Change
	var grownTo *snapshot
	bumped := false
	for name := range b.dirty {
		nv := c.build(name, b)
		s := snap.services[name]
		var old *view
		if s != nil {
			old = s.view.Load()
		}
		var changed bool
		changes, changed = diff(changes, old, nv, index)
		if !changed {
			continue
		}
		nv.index = index
		bumped = true
		if s == nil {
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
	if !bumped {
		return
	}
	// The grown snapshot first, then the index: a reader that loads the index
	// and then the snapshot (Service, for a service not seen yet) either sees
	// the new service or an index below it.
	if grownTo != nil {
		c.snap.Store(grownTo)
		close(snap.grown)
	}
	c.index.Store(index)
	c.notify(changes)
}

// diff appends the subscriber changes from old to nv (live records only) and
// reports whether the view changed at all.
func diff(out []Change, old, nv *view, index uint64) ([]Change, bool) {
	var ol, of []*Entry
	if old != nil {
		ol, of = old.live, old.fallback
	}
	n := len(out)
	i, j := 0, 0
	for i < len(ol) || j < len(nv.live) {
		var c int
		switch {
		case i == len(ol):
			c = 1
		case j == len(nv.live):
			c = -1
		default:
			c = less(ol[i], nv.live[j])
		}
		switch {
		case c < 0:
			out = append(out, Change{Index: index, Type: ChangeDelete, Service: nv.name, Entry: ol[i]})
			i++
		case c > 0:
			out = append(out, Change{Index: index, Type: ChangeUpsert, Service: nv.name, Entry: nv.live[j]})
			j++
		default:
			if !sameEntry(ol[i], nv.live[j]) {
				out = append(out, Change{Index: index, Type: ChangeUpsert, Service: nv.name, Entry: nv.live[j]})
			}
			i++
			j++
		}
	}
	return out, len(out) > n || !sameEntries(of, nv.fallback)

}

func sameEntry(a, b *Entry) bool {
	return a == b || (a.Node == b.Node && a.ID == b.ID && a.Version == b.Version && a.Stale == b.Stale)
}

func sameEntries(a, b []*Entry) bool {
	return slices.EqualFunc(a, b, sameEntry)
}
