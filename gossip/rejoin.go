package gossip

import (
	"math/rand/v2"
	"net"
	"strconv"
	"time"
)

// Rejoin pacing. Two things keep the rejoin loop cheap without slowing the
// healing of a partition:
//
//   - Shared effort (after an idea in Serf's reconnect loop): when an address
//     is due, each of the L live members tries it with probability 1/L, and
//     the others pace it as if they had, so the cluster as a whole makes about
//     one attempt per address per due time, not one per member. An agent that
//     is alone always tries; a small group tries more often per member.
//   - Per-address backoff by the age of the outage: an address is retried
//     every RejoinInterval while its outage is young, then every twentieth of
//     its age, up to RejoinMaxWait. A partition of length D heals within
//     about max(RejoinInterval, D/20) (capped), while a host that died hours
//     ago costs one connection attempt every RejoinMaxWait.

// rejoinAddr is the pacing state of one unreachable candidate address.
type rejoinAddr struct {
	since time.Time // start of the outage: departure, or first failed attempt
	next  time.Time // not tried before this
}

// rejoinWait is the pause before retrying an address unreachable for age.
func rejoinWait(base, maxWait, age time.Duration) time.Duration {
	return min(max(age/20, base), max(maxWait, base))
}

// remember records a failed or departed member's address as a rejoin candidate.
func (n *Node) remember(name, addr string) {
	if name == n.cfg.Name {
		return
	}
	n.mu.Lock()
	n.departed[name] = departure{addr: addr, at: time.Now()}
	n.mu.Unlock()
}

// forget drops a member that is alive again from the rejoin candidates.
func (n *Node) forget(name string) {
	n.mu.Lock()
	if d, ok := n.departed[name]; ok {
		delete(n.rejoinAt, d.addr)
	}
	delete(n.departed, name)
	n.mu.Unlock()
}

// rejoinCandidates returns up to RejoinBatch random addresses, due for an
// attempt and drawn for this node, among the seeds and the remembered departed
// members that are not live members now.
func (n *Node) rejoinCandidates(now time.Time) []string {
	members := n.Members()
	live := make(map[string]bool, len(members))
	var self string // not memberlist's LocalNode(): UpdateNode rewrites it under memberlist's lock
	for _, m := range members {
		a := net.JoinHostPort(m.Addr, strconv.Itoa(int(m.Port)))
		live[a] = true
		if m.Name == n.cfg.Name {
			self = a
		}
	}
	outage := map[string]time.Time{} // candidate → start of its outage
	add := func(a string, since time.Time) {
		if a == "" || a == self || live[a] {
			return
		}
		if t, ok := outage[a]; !ok || since.Before(t) {
			outage[a] = since
		}
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, s := range n.cfg.Seeds {
		add(s, now)
	}
	for name, d := range n.departed {
		if now.Sub(d.at) > n.cfg.RejoinMemory {
			delete(n.departed, name)
			continue
		}
		add(d.addr, d.at)
	}
	for a := range n.rejoinAt {
		if _, ok := outage[a]; !ok {
			delete(n.rejoinAt, a) // live again, or no longer a candidate
		}
	}
	share := 1.0 // this node's share of the cluster's attempts at an address
	if len(members) > 1 {
		share = 1 / float64(len(members))
	}
	var cand []string
	for a, since := range outage {
		st := n.rejoinAt[a]
		if st == nil {
			st = &rejoinAddr{since: since}
			n.rejoinAt[a] = st
		}
		switch {
		case now.Before(st.next):
		case rand.Float64() < share:
			cand = append(cand, a)
		default:
			n.pace(st, now) // another member's turn
		}
	}
	rand.Shuffle(len(cand), func(i, j int) { cand[i], cand[j] = cand[j], cand[i] })
	return cand[:min(len(cand), n.cfg.RejoinBatch)]
}

// pace sets when st's address is due again (n.mu held): after rejoinWait,
// up to a quarter early so that a due address never waits a whole extra
// round of the loop.
func (n *Node) pace(st *rejoinAddr, now time.Time) {
	w := rejoinWait(n.cfg.RejoinInterval, n.cfg.RejoinMaxWait, now.Sub(st.since))
	st.next = now.Add(w - time.Duration(rand.Int64N(int64(w)/4+1)))
}

// rejoinTried records the outcome of an attempt to join addr.
func (n *Node) rejoinTried(addr string, ok bool, now time.Time) {
	n.mu.Lock()
	defer n.mu.Unlock()
	st := n.rejoinAt[addr]
	if ok || st == nil {
		delete(n.rejoinAt, addr)
		return
	}
	n.pace(st, now)
}

// rejoinLoop tries the rejoin candidates every RejoinInterval (jittered by up to
// a quarter). A successful join merges the two sides' membership and, through
// the push/pull digests, their catalogs.
func (n *Node) rejoinLoop() {
	n.every(n.cfg.RejoinInterval, func() {
		for _, a := range n.rejoinCandidates(time.Now()) {
			got, err := n.ml.Load().Join([]string{a})
			n.rejoinTried(a, err == nil && got > 0, time.Now())
			n.stats.rejoins.Add(uint64(got))
			n.log.Debug().Err(err).Str("addr", a).Int("joined", got).Msg("rejoin")
		}
	})
}
