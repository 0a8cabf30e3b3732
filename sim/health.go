package sim

import (
	"sort"
	"sync"
	"time"
)

// health follows the failure detector and self-preservation for the report:
// false deaths (a healthy node declared failed), suspicions and refutations
// (from the nodes' memberlist logs, see MemberEvent), premature withdrawals
// (a false death that cost the node's instances their place in lookups),
// self-preservation spans, and the nodes' counters (rejoins, gossip bytes).
// Safe for concurrent use: events arrive from the nodes' goroutines.
type health struct {
	mu    sync.Mutex // guards everything below
	start time.Time
	quiet time.Duration // how long after a fault on a host or the network its deaths are not "false"

	suspicions, refutations, deaths int
	episodes                        []*falseDeath
	open                            map[string]*falseDeath // subject → its open episode

	troubled map[string]time.Time // host → last fault on it (pause, crash, restart, slow, move)
	slow     map[string]bool      // hosts slowed now (never healthy)
	netFault time.Time            // last change of partitions, cuts, bridges or flaps

	preserving map[string]time.Time // node → since when it is in self-preservation
	spans      []PreservationSpan
	counts     []point // nodes in self-preservation, per sample

	closed   bool                  // the run is over: events of nodes shutting down are ignored
	counters map[Node]NodeCounters // last counters of every incarnation
	saved    int64                 // data-directory bytes saved (save steps)
}

// falseDeath is a healthy node declared failed, while it lasts.
type falseDeath struct {
	node, by  string
	at        time.Time
	lasted    time.Duration // 0 while open
	observers int           // most observers at once that did not see it alive
	withdrawn map[string]bool
}

func newHealth(start time.Time, quiet time.Duration) *health {
	return &health{
		start: start, quiet: quiet,
		open: map[string]*falseDeath{}, troubled: map[string]time.Time{}, slow: map[string]bool{},
		preserving: map[string]time.Time{}, counters: map[Node]NodeCounters{},
	}
}

// trouble notes a fault on host (or the network, host ""), after which its
// failures are expected for a while.
func (h *health) trouble(host string, at time.Time) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if host == "" {
		h.netFault = at
		return
	}
	h.troubled[host] = at
}

func (h *health) setSlow(host string, slow bool, at time.Time) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.slow[host] = slow
	h.troubled[host] = at
}

// event records a failure-detector event; healthy reports whether subject
// is live and reachable from observer (both ways) now.
func (h *health) event(e MemberEvent, at time.Time, healthy func(subject, observer string) bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return
	}
	switch e.Kind {
	case EventSuspect:
		h.suspicions++
	case EventRefute:
		h.refutations++
	case EventFailed:
		h.deaths++
		if h.open[e.Subject] != nil || h.slow[e.Subject] || h.slow[e.Observer] {
			return
		}
		for _, n := range []string{e.Subject, e.Observer} {
			if t, ok := h.troubled[n]; ok && at.Sub(t) < h.quiet {
				return
			}
		}
		if !h.netFault.IsZero() && at.Sub(h.netFault) < h.quiet {
			return
		}
		if !healthy(e.Subject, e.Observer) {
			return
		}
		fd := &falseDeath{node: e.Subject, by: e.Observer, at: at, observers: 1, withdrawn: map[string]bool{}}
		h.open[e.Subject] = fd
		h.episodes = append(h.episodes, fd)
	}
}

// openSubjects returns the nodes with an open false death.
func (h *health) openSubjects() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make([]string, 0, len(h.open))
	for n := range h.open {
		out = append(out, n)
	}
	return out
}

// observe updates open false deaths from one sample: sees[observer][subject]
// is whether the observer holds the subject alive; answers are the lookups;
// owned returns a node's registered instances. An episode ends when every
// live observer sees the node again (or it is no longer live).
func (h *health) observe(at time.Time, sees map[string]map[string]bool, live map[string]bool, answers map[string]map[string][]Seen, owned func(string) []instKey, services func(instKey) string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for subj, fd := range h.open {
		if !live[subj] {
			fd.lasted = max(at.Sub(fd.at), time.Nanosecond)
			delete(h.open, subj)
			continue
		}
		down := 0
		keys := owned(subj)
		for obs, m := range sees {
			if obs == subj || m[subj] {
				continue
			}
			down++
			for _, k := range keys {
				found := false
				for _, x := range answers[obs][services(k)] {
					if x.Node == k.node && x.ID == k.id {
						found = true
						break
					}
				}
				if !found {
					fd.withdrawn[obs+"|"+k.String()] = true
				}
			}
		}
		fd.observers = max(fd.observers, down)
		if down == 0 {
			fd.lasted = max(at.Sub(fd.at), time.Nanosecond)
			delete(h.open, subj)
		}
	}
}

// preservation records which live nodes are in self-preservation.
func (h *health) preservation(at time.Time, on map[string]bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for n, since := range h.preserving {
		if !on[n] {
			h.spans = append(h.spans, PreservationSpan{Node: n, From: since.Sub(h.start), To: at.Sub(h.start)})
			delete(h.preserving, n)
		}
	}
	for n, ok := range on {
		if _, was := h.preserving[n]; ok && !was {
			h.preserving[n] = at
		}
	}
	h.counts = append(h.counts, point{at.Sub(h.start), float64(len(h.preserving))})
}

// close ends the recording of events (the nodes are about to stop).
func (h *health) close() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.closed = true
}

func (h *health) count(n Node, c NodeCounters) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.counters[n] = c
}

func (h *health) addSaved(b int64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.saved += b
}

// report fills rep's health figures; end is the end of the run.
func (h *health) report(rep *Report, end time.Time) {
	h.mu.Lock()
	defer h.mu.Unlock()
	rep.Suspicions, rep.Refutations, rep.Deaths = h.suspicions, h.refutations, h.deaths
	for _, fd := range h.episodes {
		f := FalseDeath{Node: fd.node, By: fd.by, At: fd.at.Sub(h.start), Lasted: fd.lasted, Observers: fd.observers, Withdrawn: len(fd.withdrawn)}
		if fd.lasted == 0 {
			f.Lasted, f.Open = end.Sub(fd.at), true
		}
		rep.FalseDeaths = append(rep.FalseDeaths, f)
		rep.PrematureWithdrawals += len(fd.withdrawn)
	}
	rep.Preservation = append([]PreservationSpan(nil), h.spans...)
	for n, since := range h.preserving {
		rep.Preservation = append(rep.Preservation, PreservationSpan{Node: n, From: since.Sub(h.start), To: end.Sub(h.start), Open: true})
	}
	sort.Slice(rep.Preservation, func(i, j int) bool {
		a, b := rep.Preservation[i], rep.Preservation[j]
		return a.From < b.From || a.From == b.From && a.Node < b.Node
	})
	for _, p := range h.counts {
		rep.Series.Preserving = append(rep.Series.Preserving, Point{p.t, p.v})
	}
	rep.GossipBytes = map[string]uint64{}
	for _, c := range h.counters {
		rep.Rejoins += c.Rejoins
		for k, b := range c.SentBytes {
			rep.GossipBytes[k] += b
		}
	}
	rep.SavedBytes = h.saved
}
