package catalog

import (
	"maps"
	"math/bits"
	"slices"

	"github.com/grapevine-sd/grapevine/internal/densemap"
)

// filterCache holds the answers a view gave to filters that one index read
// does not answer (several constraints, another health, a miss that fell
// back to expired records): each is matched once per view, then read without
// a lock or an allocation. It is immutable: remember installs a copy. A view
// keeps at most maxCachedFilters answers and maxCachedShare × its live
// entries in them, so odd queries cannot make it grow without bound.
type filterCache struct {
	byHash  map[uint64][]cachedAnswer
	n       int // answers
	entries int // entries over all answers
}

const (
	maxCachedFilters = 32
	maxCachedShare   = 4
)

type cachedAnswer struct {
	f        Filter // the catalog's own copy
	entries  []*Entry
	fallback bool
	stale    bool // some entry is stale: ages are filled in per lookup
}

// hash is the same for filters that select the same instances in any order
// of their tags or meta pairs.
func (f *Filter) hash() uint64 {
	h := uint64(f.Health) * 0x9e3779b97f4a7c15
	for _, t := range f.Tags {
		h += densemap.String(t)
	}
	var meta uint64
	for k, v := range f.Meta {
		meta += densemap.Pair(k, v)
	}
	h ^= bits.RotateLeft64(meta, 43)
	if f.Zone != "" {
		h ^= bits.RotateLeft64(densemap.String(f.Zone), 17)
	}
	if f.Node != "" {
		h ^= bits.RotateLeft64(densemap.String(f.Node), 29)
	}
	return h
}

// same reports whether f and g select the same instances.
func (f *Filter) same(g *Filter) bool {
	return f.Health == g.Health && f.Zone == g.Zone && f.Node == g.Node &&
		subset(f.Tags, g.Tags) && subset(g.Tags, f.Tags) && maps.Equal(f.Meta, g.Meta)
}

func subset(a, b []string) bool {
	for _, s := range a {
		if !slices.Contains(b, s) {
			return false
		}
	}
	return true
}

// cached returns the answer d remembered for f (hash h), or nil.
func (d *viewData) cached(f *Filter, h uint64) *cachedAnswer {
	c := d.filters.Load()
	if c == nil {
		return nil
	}
	as := c.byHash[h]
	for i := range as {
		if as[i].f.same(f) {
			return &as[i]
		}
	}
	return nil
}

// remember keeps f's answer (before ages are filled in) for later lookups of
// the same view, unless the cache is full.
func (d *viewData) remember(f *Filter, h uint64, entries []*Entry, fallback bool) {
	var own *Filter // the catalog's copy of f, made once there is room for it
	stale := slices.ContainsFunc(entries, isStale)
	for {
		old := d.filters.Load()
		next := &filterCache{}
		if old != nil {
			for _, a := range old.byHash[h] {
				if a.f.same(f) {
					return // a concurrent lookup remembered it
				}
			}
			if old.n >= maxCachedFilters || old.entries+len(entries) > maxCachedShare*len(d.live)+64 {
				return // full: a lookup of an odd filter allocates nothing more
			}
			next.n, next.entries = old.n, old.entries
			next.byHash = maps.Clone(old.byHash)
		} else {
			next.byHash = make(map[uint64][]cachedAnswer, 1)
		}
		if own == nil {
			own = &Filter{Tags: slices.Clone(f.Tags), Meta: maps.Clone(f.Meta), Zone: f.Zone, Node: f.Node, Health: f.Health}
		}
		next.byHash[h] = append(slices.Clip(next.byHash[h]), cachedAnswer{*own, entries, fallback, stale})
		next.n++
		next.entries += len(entries)
		if d.filters.CompareAndSwap(old, next) {
			return
		}
	}
}
