package catalog

import (
	"slices"
	"strings"
	"unique"
)

// interner shares identical tag lists and meta maps between the entries the
// catalog materializes (docs/architecture.md, "Memory per instance"): fleets
// run many instances of a service with the same tags and meta, and a map per
// instance would be most of an entry's memory. Shared values are read-only
// everywhere. Short strings (service, node, zone, each tag) are canonicalised
// with package unique.
//
// It is a cache, not a reference count: a list no entry uses any more stays
// until the cache is cleared, which hold does when it holds more lists than
// the limit it is given (twice the records held). Clearing only ends sharing
// with the entries made before. Guarded by the catalog's mu.
type interner struct {
	tags map[string][]string
	meta map[string]map[string]string
}

func newInterner() interner {
	return interner{tags: make(map[string][]string), meta: make(map[string]map[string]string)}
}

func tagsKey(tags []string) string { return strings.Join(tags, "\x00") }

func metaKey(m map[string]string) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var b strings.Builder
	for _, k := range keys {
		b.WriteString(k)
		b.WriteByte(0)
		b.WriteString(m[k])
		b.WriteByte(0)
	}
	return b.String()
}

// hold replaces in's strings, tags and meta by shared copies. limit bounds
// the lists kept (see interner).
func (it *interner) hold(in *Instance, limit int) {
	in.Service = unique.Make(in.Service).Value()
	in.Node = unique.Make(in.Node).Value()
	if in.Zone != "" {
		in.Zone = unique.Make(in.Zone).Value()
	}
	if len(it.tags)+len(it.meta) > max(limit, 1024) {
		*it = newInterner()
	}
	if len(in.Tags) > 0 {
		k := tagsKey(in.Tags)
		t := it.tags[k]
		if t == nil {
			t = make([]string, len(in.Tags))
			for i, s := range in.Tags {
				t[i] = unique.Make(s).Value()
			}
			it.tags[k] = t
		}
		in.Tags = t
	}
	if len(in.Meta) > 0 {
		k := metaKey(in.Meta)
		m := it.meta[k]
		if m == nil {
			m = in.Meta
			it.meta[k] = m
		}
		in.Meta = m
	}
}
