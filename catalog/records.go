package catalog

import (
	"cmp"
	"time"

	"github.com/grapevine-sd/grapevine/crdt"
	"github.com/grapevine-sd/grapevine/internal/densemap"
)

// How the catalog keeps records, and why (docs/architecture.md, "Memory per
// instance"):
//
// A record's content lives once, in the crdt, as the encoded value the owner
// wrote. The catalog keeps per record only what publishing needs: a 24-byte
// entry in its service's table (the key, the origin's number, the current and
// published health, the published class, flags). Entries (the decoded
// *Entry that lookups and watches hand out) exist only where they are used:
// for every record of a service a lookup has read (a hot service; decoded
// once, then per changed record), and for one commit where a subscriber is
// told of a change. A service nobody looks up costs no decoding and no
// entries.

// svcState is a service's records with what was last published of each.
type svcState struct {
	name string
	recs densemap.Map[svcKey, rec]
	// served holds the published entry of each served record once a lookup
	// built the service's answer set (the service is hot); nil while cold.
	served *densemap.Map[svcKey, *Entry]
	readAt time.Time      // while hot: when a lookup was last seen (cool)
	sum    ServiceSummary // counts over the published states
}

func newSvcState(name string) *svcState {
	return &svcState{name: name, recs: densemap.New[svcKey, rec](svcKey.hash)}
}

func (s *svcState) hot() bool { return s.served != nil }

// entry returns the published entry of k if the service keeps it.
func (s *svcState) entry(k svcKey) *Entry {
	if s.served == nil {
		return nil
	}
	e, _ := s.served.Get(k)
	return e
}

// originID numbers an origin in the catalog's origin table.
type originID uint32

// svcKey names a record inside its service: the key (the instance ID, the
// crdt's own key string) and the owning origin's number.
type svcKey struct {
	key    string
	origin originID
}

func (k svcKey) hash() uint64 {
	return densemap.String(k.key) ^ uint64(k.origin)*0x9e3779b97f4a7c15
}

// origins numbers the origins that own records in the services' tables, so
// that a record names its origin in 4 bytes. A number is freed, for reuse,
// when the last record naming it leaves its table.
type origins struct {
	ids   map[string]originID
	names []string // by number; "" when free
	refs  []int32  // records naming the number
	free  []originID
}

func newOrigins() origins { return origins{ids: make(map[string]originID)} }

// hold returns name's number, assigning one if needed, and counts one more
// record naming it.
func (o *origins) hold(name string) originID {
	id, ok := o.ids[name]
	if !ok {
		if n := len(o.free); n > 0 {
			id, o.free = o.free[n-1], o.free[:n-1]
		} else {
			id = originID(len(o.names))
			o.names, o.refs = append(o.names, ""), append(o.refs, 0)
		}
		o.ids[name], o.names[id] = id, name
	}
	o.refs[id]++
	return id
}

// release counts one record fewer naming id.
func (o *origins) release(id originID) {
	if o.refs[id]--; o.refs[id] == 0 {
		delete(o.ids, o.names[id])
		o.names[id] = ""
		o.free = append(o.free, id)
	}
}

func (o *origins) name(id originID) string { return o.names[id] }

// records returns how many records name owns in the services' tables: those
// that decode (the others are ignored), once a commit removed the ones a
// change dropped.
func (o *origins) records(name string) int {
	if id, ok := o.ids[name]; ok {
		return int(o.refs[id])
	}
	return 0
}

// rec is one record of a service as the catalog keeps it (the content is the
// crdt's).
type rec struct {
	health    Health // of the current record
	pubHealth Health // of the published state
	class     class  // published class
	flags     recFlags
}

type recFlags uint8

const (
	recPresent  recFlags = 1 << iota // the crdt holds a decodable live record
	recDirty                         // the record changed since it was published
	recPubStale                      // the published state is stale
)

func (r *rec) has(f recFlags) bool { return r.flags&f != 0 }

func (r *rec) set(f recFlags, on bool) {
	if on {
		r.flags |= f
	} else {
		r.flags &^= f
	}
}

// mark names a record a change touched: commit republishes it.
type mark struct {
	service string
	key     svcKey
}

// batch collects the records a change touched, and entries decoded on the
// way that the commit needs.
type batch struct {
	marks []mark
	// raw: the current record decoded by applyChanges, for a hot service or
	// a subscriber. gone: the published entry of a cold service's record
	// the change removed, for the delete notice.
	raw, gone entryList
	now       time.Time
}

func (c *Catalog) newBatch() *batch {
	return &batch{now: c.cfg.Now()}
}

func (b *batch) mark(service string, k svcKey) { b.marks = append(b.marks, mark{service, k}) }

// entryList maps records to entries for one batch: a list, indexed by a map
// once long (a snapshot merge), so both small and large batches stay linear.
type entryList struct {
	list []keyedEntry
	at   map[svcKey]int
}

type keyedEntry struct {
	k svcKey
	e *Entry
}

func (l *entryList) find(k svcKey) int {
	if l.at != nil {
		if i, ok := l.at[k]; ok {
			return i
		}
		return -1
	}
	for i := range l.list {
		if l.list[i].k == k {
			return i
		}
	}
	return -1
}

func (l *entryList) get(k svcKey) *Entry {
	if i := l.find(k); i >= 0 {
		return l.list[i].e
	}
	return nil
}

func (l *entryList) set(k svcKey, e *Entry) {
	if i := l.find(k); i >= 0 {
		l.list[i].e = e
		return
	}
	if e == nil {
		return
	}
	l.list = append(l.list, keyedEntry{k, e})
	switch {
	case l.at != nil:
		l.at[k] = len(l.list) - 1
	case len(l.list) > 16:
		l.at = make(map[svcKey]int, 2*len(l.list))
		for i, x := range l.list {
			l.at[x.k] = i
		}
	}
}

func less(a, b *Entry) int {
	if c := cmp.Compare(a.Node, b.Node); c != 0 {
		return c
	}
	return cmp.Compare(a.ID, b.ID)
}

func staleCopy(e *Entry, since time.Time) *Entry {
	s := *e
	s.Stale = true
	s.since = since.UnixNano()
	return &s
}

// applyChanges folds visible crdt changes into the services' records and
// marks the records they touch. Every change that replaces or removes a live
// value carries it (Old): the record is found through the service it names.
// mu held.
func (c *Catalog) applyChanges(b *batch, chs []crdt.Change) {
	for _, ch := range chs {
		if ch.Old != nil {
			c.dropRecord(b, ch)
		}
		if ch.New == nil {
			continue
		}
		in, err := decodeValue(ch.Origin, ch.Key, ch.New)
		if err != nil {
			c.invalid++
			c.log.Warn().Err(err).Str("origin", ch.Origin).Str("key", ch.Key).Msg("ignoring undecodable record")
			continue
		}
		svc := c.byService[in.Service]
		if svc == nil {
			svc = newSvcState(in.Service)
			c.byService[svc.name] = svc
		}
		k := svcKey{key: ch.Key}
		var r *rec
		if id, ok := c.origins.ids[ch.Origin]; ok {
			k.origin = id
			r = svc.recs.Ptr(k)
		}
		if r == nil {
			k.origin = c.origins.hold(ch.Origin)
			r = svc.recs.Set(k, rec{})
		}
		r.set(recPresent|recDirty, true)
		r.health = in.Health
		if svc.hot() || len(c.subs) > 0 {
			// The commit publishes an entry of it: keep this decoding.
			b.raw.set(k, c.entryOf(ch.Origin, ch.Seq, in))
		}
		b.mark(svc.name, k)
	}
}

// dropRecord removes the record whose live value ch replaces or removes (the
// commit publishes the removal). mu held.
func (c *Catalog) dropRecord(b *batch, ch crdt.Change) {
	svc := c.byService[string(valueService(ch.Old))]
	id, ok := c.origins.ids[ch.Origin]
	if svc == nil || !ok {
		return // never decoded
	}
	k := svcKey{ch.Key, id}
	r := svc.recs.Ptr(k)
	if r == nil || !r.has(recPresent) {
		return
	}
	if !svc.hot() && !r.has(recDirty) && r.class == classLive && len(c.subs) > 0 {
		// The delete notice shows the record as it was served, which the
		// crdt no longer holds. (Its epoch is the origin's current one: a
		// record a new epoch replaced shows that epoch.)
		if e := c.decode(ch.Origin, ch.Key, ch.Old, ch.OldSeq); e != nil {
			if r.has(recPubStale) {
				_, since := c.phaseOf(ch.Origin)
				e = staleCopy(e, since)
			}
			b.gone.set(k, e)
		}
	}
	r.set(recPresent, false)
	r.set(recDirty, true)
	b.raw.set(k, nil)
	b.mark(svc.name, k)
}

// markOrigin marks every record of origin: its phase changed. mu held.
func (c *Catalog) markOrigin(b *batch, origin string) {
	id, ok := c.origins.ids[origin]
	if !ok {
		return // no records
	}
	for e := range c.state.Entries(origin) {
		if svc := c.byService[string(valueService(e.Value))]; svc != nil {
			b.mark(svc.name, svcKey{e.Key, id})
		}
	}
}

// classify returns how record r of origin is served now, whether stale, and
// since when its owner is unreachable. mu held.
func (c *Catalog) classify(origin string, r *rec) (cl class, stale bool, since time.Time) {
	if !r.has(recPresent) {
		return classAbsent, false, time.Time{}
	}
	ph, since := c.phaseOf(origin)
	switch ph {
	case phaseLive:
		return classLive, false, since
	case phaseStale:
		return classLive, true, since
	case phaseExpired:
		return classFallback, true, since
	}
	return classWithdrawn, false, since
}

// current returns record k's current content as an entry: the one
// applyChanges decoded for this batch, else decoded from the crdt. nil if
// the crdt holds nothing decodable (never for a present record). mu held.
func (c *Catalog) current(b *batch, k svcKey) *Entry {
	if b != nil {
		if e := b.raw.get(k); e != nil {
			return e
		}
	}
	origin := c.origins.name(k.origin)
	e, ok := c.state.Get(origin, k.key)
	if !ok || e.Deleted {
		return nil
	}
	return c.decode(origin, k.key, e.Value, e.Seq)
}

// decode returns value val of record key of origin, written at seq of the
// origin's current epoch, as an entry with shared strings, or nil if it does
// not decode. mu held.
func (c *Catalog) decode(origin, key string, val []byte, seq uint64) *Entry {
	in, err := decodeValue(origin, key, val)
	if err != nil {
		return nil
	}
	return c.entryOf(origin, seq, in)
}

// entryOf returns decoded instance in of origin, written at seq of the
// origin's current epoch, as an entry with shared strings. mu held.
func (c *Catalog) entryOf(origin string, seq uint64, in Instance) *Entry {
	in.Version = Version{Epoch: c.state.Position(origin).Epoch, Seq: seq}
	c.intern.hold(&in, 2*c.state.Len())
	return &Entry{Instance: in}
}

// servedEntry returns the entry record k publishes now: its current content,
// fresh or a stale copy (since: the owner's failure), reusing the published
// entry pub when the record did not change and pub shows the same. mu held.
func (c *Catalog) servedEntry(b *batch, k svcKey, r *rec, pub *Entry, stale bool, since time.Time) *Entry {
	p := pub
	if p == nil || r.has(recDirty) {
		if p = c.current(b, k); p == nil {
			return nil
		}
	}
	switch {
	case !stale && p.Stale:
		f := *p
		f.Stale, f.since = false, 0
		return &f
	case stale && (!p.Stale || p.since != since.UnixNano()):
		return staleCopy(p, since)
	}
	return p
}

// publishedEntry returns the entry record k published, for a delete notice:
// the hot service's, the one dropRecord kept, or the record decoded again
// (the crdt holds the published record while it did not change). mu held.
func (c *Catalog) publishedEntry(b *batch, svc *svcState, k svcKey, r *rec) *Entry {
	if e := svc.entry(k); e != nil {
		return e
	}
	if e := b.gone.get(k); e != nil {
		return e
	}
	origin := c.origins.name(k.origin)
	if !r.has(recDirty) {
		_, since := c.phaseOf(origin)
		if e := c.servedEntry(nil, k, r, nil, r.has(recPubStale), since); e != nil {
			return e
		}
	}
	return &Entry{Instance: Instance{ID: k.key, Node: origin, Service: svc.name}, Stale: r.has(recPubStale)}
}
