package catalog

import (
	"slices"
	"strings"
	"unique"
)

// interner shares identical tag lists and meta maps between records: fleets
// run many instances of a service with the same tags and meta, and a map per
// instance is most of an instance's memory. Shared values are read-only
// everywhere. Reference counts drop an entry when its last record goes. Short
// strings (service, node, zone) are canonicalised with package unique.
// Guarded by the catalog's mu.
type interner struct {
	tags map[string]*internTags
	meta map[string]*internMeta
}

type internTags struct {
	v []string
	n int
}

type internMeta struct {
	v map[string]string
	n int
}

func newInterner() interner {
	return interner{tags: make(map[string]*internTags), meta: make(map[string]*internMeta)}
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

// hold replaces in's strings, tags and meta by shared copies and takes a
// reference on them.
func (it *interner) hold(in *Instance) {
	in.Service = unique.Make(in.Service).Value()
	in.Node = unique.Make(in.Node).Value()
	if in.Zone != "" {
		in.Zone = unique.Make(in.Zone).Value()
	}
	if len(in.Tags) > 0 {
		k := tagsKey(in.Tags)
		t := it.tags[k]
		if t == nil {
			v := make([]string, len(in.Tags))
			for i, s := range in.Tags {
				v[i] = unique.Make(s).Value()
			}
			t = &internTags{v: v}
			it.tags[k] = t
		}
		t.n++
		in.Tags = t.v
	}
	if len(in.Meta) > 0 {
		k := metaKey(in.Meta)
		m := it.meta[k]
		if m == nil {
			m = &internMeta{v: in.Meta}
			it.meta[k] = m
		}
		m.n++
		in.Meta = m.v
	}
}

// release drops the references hold took for in.
func (it *interner) release(in *Instance) {
	if len(in.Tags) > 0 {
		k := tagsKey(in.Tags)
		if t := it.tags[k]; t != nil {
			if t.n--; t.n <= 0 {
				delete(it.tags, k)
			}
		}
	}
	if len(in.Meta) > 0 {
		k := metaKey(in.Meta)
		if m := it.meta[k]; m != nil {
			if m.n--; m.n <= 0 {
				delete(it.meta, k)
			}
		}
	}
}
