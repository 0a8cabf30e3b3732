package gossip

import (
	"math"
	"strings"
	"sync/atomic"
	"time"

	"github.com/hashicorp/memberlist"
)

// Failed probes. memberlist tells its delegates of joins, updates and
// departures only; a probe of a member that got no ack appears only in its
// log ("Suspect X has failed, no acks received"), which the log bridge hands
// to probeFailed. This node then lists the member as StateSuspect until a
// probe of it succeeds or memberlist's longest suspicion timeout has passed
// without the member being declared dead (it refuted the suspicion), and
// counts the failure on the member (Member.ProbeFailures) and in total
// (ProbeFailures). Suspicions other nodes raise are not seen here.

const (
	probeFailurePrefix = "Suspect "
	probeFailureSuffix = " has failed, no acks received"
)

// parseProbeFailure returns the member a memberlist log line says this node
// failed to probe.
func parseProbeFailure(line string) (string, bool) {
	name, ok := strings.CutPrefix(line, probeFailurePrefix)
	if !ok {
		return "", false
	}
	name, ok = strings.CutSuffix(name, probeFailureSuffix)
	if !ok || name == "" {
		return "", false
	}
	return name, true
}

// suspicion holds what probeFailed needs of memberlist's config.
type suspicion struct {
	mult, maxMult int
	interval      time.Duration
	failures      atomic.Uint64
}

func (s *suspicion) init(c *memberlist.Config) {
	s.mult, s.maxMult, s.interval = c.SuspicionMult, c.SuspicionMaxTimeoutMult, c.ProbeInterval
}

// timeout is memberlist's longest suspicion timeout in a cluster of n:
// SuspicionMaxTimeoutMult × SuspicionMult × max(1, log10 n) × ProbeInterval.
func (s *suspicion) timeout(n int) time.Duration {
	scale := max(1, math.Log10(float64(max(n, 1))))
	return time.Duration(float64(max(s.maxMult, 1)*max(s.mult, 1)) * scale * float64(s.interval))
}

// probeFailed records a failed probe of member name (from the log bridge).
func (n *Node) probeFailed(name string) {
	n.suspect.failures.Add(1)
	now := time.Now()
	n.mu.Lock()
	defer n.mu.Unlock()
	m, ok := n.members[name]
	if !ok {
		return
	}
	m.ProbeFailures++
	m.LastProbeFailure = now
	m.suspectUntil = now.Add(n.suspect.timeout(len(n.members)))
	n.members[name] = m
}

// ProbeFailures is how many of this node's probes got no ack, since New.
func (n *Node) ProbeFailures() uint64 { return n.suspect.failures.Load() }
