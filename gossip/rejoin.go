package gossip

import (
	"math/rand/v2"
	"net"
	"strconv"
	"time"
)

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
	delete(n.departed, name)
	n.mu.Unlock()
}

// rejoinCandidates returns up to RejoinBatch random addresses among the seeds
// and the remembered departed members that are not live members now.
func (n *Node) rejoinCandidates() []string {
	live := map[string]bool{}
	for _, m := range n.Members() {
		live[net.JoinHostPort(m.Addr, strconv.Itoa(int(m.Port)))] = true
	}
	self := n.ml.Load().LocalNode().Address()
	now := time.Now()
	var cand []string
	seen := map[string]bool{}
	add := func(a string) {
		if a != "" && a != self && !live[a] && !seen[a] {
			seen[a] = true
			cand = append(cand, a)
		}
	}
	for _, s := range n.cfg.Seeds {
		add(s)
	}
	n.mu.Lock()
	for name, d := range n.departed {
		if now.Sub(d.at) > n.cfg.RejoinMemory {
			delete(n.departed, name)
			continue
		}
		add(d.addr)
	}
	n.mu.Unlock()
	if len(cand) > n.cfg.RejoinBatch {
		rand.Shuffle(len(cand), func(i, j int) { cand[i], cand[j] = cand[j], cand[i] })
		cand = cand[:n.cfg.RejoinBatch]
	}
	return cand
}

// rejoinLoop tries the rejoin candidates every RejoinInterval (jittered by up to
// a quarter). A successful join merges the two sides' membership and, through
// the push/pull digests, their catalogs.
func (n *Node) rejoinLoop() {
	n.every(n.cfg.RejoinInterval, func() {
		cand := n.rejoinCandidates()
		if len(cand) == 0 {
			return
		}
		got, err := n.ml.Load().Join(cand)
		n.stats.rejoins.Add(uint64(got))
		n.log.Debug().Err(err).Strs("addrs", cand).Int("joined", got).Msg("rejoin")
	})
}
