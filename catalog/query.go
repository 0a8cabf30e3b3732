package catalog

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// HealthFilter selects instances by health: a set of healths. The zero value,
// HealthDefault, selects passing and warning instances (everything that is not
// critical or in maintenance: a warning instance still serves).
type HealthFilter uint8

// Health filters.
const (
	HealthDefault HealthFilter = 0 // passing and warning
	HealthAny     HealthFilter = 1<<HealthPassing | 1<<HealthWarning | 1<<HealthCritical | 1<<HealthMaintenance
)

// HealthOnly returns the filter selecting exactly the given healths.
func HealthOnly(hs ...Health) HealthFilter {
	var f HealthFilter
	for _, h := range hs {
		if h.Valid() {
			f |= 1 << h
		}
	}
	return f
}

// Match reports whether the filter selects h.
func (f HealthFilter) Match(h Health) bool {
	if f == HealthDefault {
		return h == HealthPassing || h == HealthWarning
	}
	return f&(1<<h) != 0
}

// ParseHealthFilter parses the HTTP/CLI form: "" (default: passing and
// warning), "any", or a comma-separated list of healths ("passing",
// "passing,warning", ...).
func ParseHealthFilter(s string) (HealthFilter, error) {
	switch s {
	case "":
		return HealthDefault, nil
	case "any":
		return HealthAny, nil
	}
	var f HealthFilter
	for part := range strings.SplitSeq(s, ",") {
		h, err := ParseHealth(strings.TrimSpace(part))
		if err != nil {
			return 0, fmt.Errorf("catalog: health filter %q: want any or passing, warning, critical, maintenance", s)
		}
		f |= 1 << h
	}
	return f, nil
}

// Filter narrows a service query. The zero Filter is the default lookup:
// passing and warning instances, served from a precomputed view. Its semantics
// are those of api.QueryOptions.Match, the HTTP contract; the agent's
// TestFilterSemanticsAgree holds the two to the same answers.
type Filter struct {
	Tags   []string          // every tag must be present
	Meta   map[string]string // every pair must match exactly
	Zone   string            // exact zone, if set
	Node   string            // exact node, if set
	Health HealthFilter      // zero: passing and warning
}

func (f *Filter) isDefault() bool {
	return len(f.Tags) == 0 && len(f.Meta) == 0 && f.Zone == "" && f.Node == "" && f.Health == HealthDefault
}

// constraints counts f's indexed constraints: tags, meta pairs, zone, node.
func (f *Filter) constraints() int {
	n := len(f.Tags) + len(f.Meta)
	if f.Zone != "" {
		n++
	}
	if f.Node != "" {
		n++
	}
	return n
}

func (f *Filter) match(e *Entry, meta []string) bool {
	if !f.Health.Match(e.Health) || (f.Zone != "" && e.Zone != f.Zone) || (f.Node != "" && e.Node != f.Node) {
		return false
	}
	for _, t := range f.Tags {
		if !slices.Contains(e.Tags, t) {
			return false
		}
	}
	for i := 0; i < len(meta); i += 2 {
		if got, ok := e.Meta[meta[i]]; !ok || got != meta[i+1] {
			return false
		}
	}
	return true
}

func (f *Filter) appendMatches(out, in []*Entry) []*Entry {
	if len(in) == 0 {
		return out
	}
	// Flatten Meta once per query: ranging over a map per entry costs more
	// than the rest of the match.
	var meta []string
	if len(f.Meta) > 0 {
		meta = make([]string, 0, 2*len(f.Meta))
		for k, v := range f.Meta {
			meta = append(meta, k, v)
		}
	}
	for _, e := range in {
		if f.match(e, meta) {
			out = append(out, e)
		}
	}
	return out
}

// Result is the answer to a service query.
type Result struct {
	// Index is the service's change index when the answer was read: pass it to
	// Wait to block until the next change. 0 for a service never seen.
	Index uint64
	// Entries are the matching instances sorted by (Node, ID). They are shared
	// with the catalog: read-only.
	Entries []*Entry
	// Fallback reports stale-over-empty: no live or stale-within-grace instance
	// matched, so expired records of unreachable owners were served instead
	// (each flagged Stale, with its Age).
	Fallback bool
}

// Service answers a query for one service from the current immutable view,
// without taking the catalog's lock. The default query (zero Filter) is O(1)
// and allocation-free while no served instance is stale; otherwise matching
// costs O(instances of the service).
//
// Stale over empty: when nothing in the served set matches, the query is run
// again over expired records of failed owners (within StaleMaxAge), which are
// returned with Fallback set.
func (c *Catalog) Service(name string, f Filter) Result {
	s := c.snap.Load().services[name]
	if s == nil {
		return Result{}
	}
	v, d := c.answers(s)
	if f.isDefault() {
		r := Result{Index: v.index, Entries: d.def, Fallback: d.defFallback}
		if d.defAged {
			r.Entries = aged(r.Entries, c.cfg.Now())
		}
		return r
	}
	r := Result{Index: v.index}
	if f.Health == HealthDefault && f.constraints() == 1 {
		// Index reads: a single tag, zone, node or meta pair is one map
		// lookup.
		if list, _ := d.index().candidates(&f); len(list) > 0 {
			// The index holds only default-health live entries, which are
			// stale only if def is aged.
			r.Entries = list
			if d.defAged {
				r.Entries = aged(list, c.cfg.Now())
			}
			return r
		}
	}
	// Anything else is matched once per view and remembered.
	h := f.hash()
	if a := d.cached(&f, h); a != nil {
		r.Entries, r.Fallback = a.entries, a.fallback
		if a.stale {
			r.Entries = aged(r.Entries, c.cfg.Now())
		}
		return r
	}
	r.Entries, r.Fallback = d.match(&f)
	d.remember(&f, h, r.Entries, r.Fallback)
	r.Entries = aged(r.Entries, c.cfg.Now())
	return r
}

// match answers f from d by matching: the smallest index list that holds
// every answer, or every live entry; then, if nothing matched, the expired
// ones (stale over empty).
func (d *viewData) match(f *Filter) (entries []*Entry, fallback bool) {
	list := d.live
	if f.Health == HealthDefault {
		if l, ok := d.index().candidates(f); ok {
			list = l
		}
	}
	entries = f.appendMatches(nil, list)
	if len(entries) == 0 {
		entries = f.appendMatches(nil, d.fallback)
		fallback = len(entries) > 0
	}
	return entries, fallback
}

func isStale(e *Entry) bool { return e.Stale }

// aged returns es with Age filled in on stale entries (copying those, and the
// slice, only when there are any).
func aged(es []*Entry, now time.Time) []*Entry {
	var out []*Entry
	for i, e := range es {
		if !e.Stale {
			continue
		}
		if out == nil {
			out = slices.Clone(es)
		}
		cp := *e
		cp.Age = max(0, now.Sub(time.Unix(0, e.since))).Round(time.Millisecond)
		out[i] = &cp
	}
	if out == nil {
		return es
	}
	return out
}

// ServiceSummary counts a service's served instances.
type ServiceSummary struct {
	Name        string `json:"name"`
	Instances   int    `json:"instances"` // served (live + stale), any health
	Passing     int    `json:"passing"`
	Warning     int    `json:"warning"`
	Critical    int    `json:"critical"`
	Maintenance int    `json:"maintenance"`
	Stale       int    `json:"stale"`   // served but stale (owner failed, within grace)
	Expired     int    `json:"expired"` // held but not served by default (owner failed past grace, or left)
	Index       uint64 `json:"index"`   // the service's change index
}

// Services returns a summary of every service with at least one held record,
// sorted by name. Lock-free.
func (c *Catalog) Services() []ServiceSummary {
	snap := c.snap.Load()
	out := make([]ServiceSummary, 0, len(snap.services))
	for _, s := range snap.services {
		v := s.view.Load()
		if v.summary.Instances == 0 && v.summary.Expired == 0 {
			continue
		}
		sum := v.summary
		sum.Index = v.index
		out = append(out, sum)
	}
	slices.SortFunc(out, func(a, b ServiceSummary) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// Instance returns the instance id owned by node as it is served (with Stale
// and Age), or false if the catalog holds none or does not serve it (owner
// left, or failed longer than StaleMaxAge).
func (c *Catalog) Instance(node, id string) (Entry, bool) {
	now := c.cfg.Now()
	c.mu.Lock()
	defer c.mu.Unlock()
	cur, ok := c.state.Get(node, id)
	if !ok || cur.Deleted {
		return Entry{}, false
	}
	e := c.decode(node, id, cur.Value, cur.Seq)
	if e == nil {
		return Entry{}, false // undecodable records are not served
	}
	ph, since := c.phaseOf(node)
	out := *e
	switch ph {
	case phaseLive:
	case phaseStale, phaseExpired:
		out.Stale, out.since = true, since.UnixNano()
		out.Age = max(0, now.Sub(since)).Round(time.Millisecond)
	default:
		return Entry{}, false
	}
	return out, true
}

// NodeInfo is what the catalog knows of one origin.
type NodeInfo struct {
	Name      string        `json:"name"`
	State     string        `json:"state"`  // alive, failed, left, or unknown (records heard of, no membership news)
	Since     time.Time     `json:"since"`  // when State was reported (zero for unknown/self)
	Served    string        `json:"served"` // live, stale, expired or withdrawn: how its records are served
	Instances int           `json:"instances"`
	Epoch     uint64        `json:"epoch"`
	Applied   uint64        `json:"applied"`
	Age       time.Duration `json:"age"` // time since failure or leave, 0 when alive
}

// Nodes returns every origin the catalog holds records of or has membership
// news about, sorted by name; the own node is included as alive.
func (c *Catalog) Nodes() []NodeInfo {
	now := c.cfg.Now()
	c.mu.Lock()
	defer c.mu.Unlock()
	seen := make(map[string]*NodeInfo)
	get := func(name string) *NodeInfo {
		n := seen[name]
		if n == nil {
			n = &NodeInfo{Name: name, State: "unknown", Served: "live"}
			seen[name] = n
		}
		return n
	}
	for name, v := range c.state.Origins() {
		n := get(name)
		n.Epoch, n.Applied = v.Epoch, v.Applied
		n.Instances = c.origins.records(name)
	}
	get(c.cfg.Node).State = "alive"
	for name, m := range c.lease.members {
		n := get(name)
		n.State, n.Since, n.Served = memberStateNames[m.state], m.since, phaseNames[m.phase]
		if m.state != memberAlive {
			n.Age = max(0, now.Sub(m.since)).Round(time.Millisecond)
		}
	}
	out := make([]NodeInfo, 0, len(seen))
	for _, n := range seen {
		out = append(out, *n)
	}
	slices.SortFunc(out, func(a, b NodeInfo) int { return strings.Compare(a.Name, b.Name) })
	return out
}
