package agent

import (
	"math"
	"sync"
	"time"

	"github.com/grapevine-sd/grapevine/api"
	"github.com/grapevine-sd/grapevine/gossip"
	"github.com/prometheus/client_golang/prometheus"
)

// agreementHistory is how many one-second agreement samples the agent keeps
// (five minutes) for GET /v1/agent/agreement and the UI's chart.
const agreementHistory = 300

// A fingerprint is published (handed to gossip, which broadcasts metadata at
// most once per gossip.Config.MetaInterval) once it has been stable for
// fingerprintQuiet, or when the published one is fingerprintMaxAge old. Every
// broadcast is an alive message each member retransmits ~4·log10(N) times
// ahead of deltas, so under sustained churn (a hash that changes every second,
// and is useless to compare anyway) an agent sends one every
// fingerprintMaxAge instead of one every MetaInterval; once quiet, the final
// value goes out within fingerprintQuiet plus the tick.
const (
	fingerprintQuiet  = 2 * time.Second
	fingerprintMaxAge = 30 * time.Second
)

// convergence is this agent's own catalog fingerprint and how many members
// carry the same, recomputed every second by the tick loop.
type convergence struct {
	mu        sync.Mutex // guards the fields below
	own       fingerprint
	published fingerprint // what was last handed to gossip
	pubAt     time.Time   // when; zero before the first
	agreement api.Agreement
	history   []api.AgreementSample // ring of agreementHistory, next at head
	head      int
}

// updateConvergence recomputes the own fingerprint, hands it to gossip (which
// rate-limits its broadcast) and counts the members (gossip's Members) that
// agree. Called by the tick loop.
func (a *Agent) updateConvergence(now time.Time, members []gossip.Member) {
	node := a.Node()
	if node == nil {
		return
	}
	st := a.cat.Fingerprint() // not Stats: no digest copy every tick
	c := &a.conv
	c.mu.Lock()
	if c.own.Changed.IsZero() || c.own.Hash != st.Hash {
		c.own.Changed = now.Truncate(time.Millisecond)
	}
	c.own.Hash, c.own.Origins, c.own.Instances = st.Hash, uint64(st.Origins), uint64(st.Instances)
	own := c.own
	publish := c.pubAt.IsZero() || (own != c.published &&
		(now.Sub(own.Changed) >= fingerprintQuiet || now.Sub(c.pubAt) >= fingerprintMaxAge))
	if publish {
		c.published, c.pubAt = own, now
	}
	c.mu.Unlock()

	if publish {
		httpAddr := a.HTTPAddr()
		if httpAddr == "" {
			httpAddr = a.cfg.HTTP
		}
		if err := node.SetMeta(encodeMeta(nodeMeta{Zone: a.cfg.Zone, HTTP: httpAddr, Version: Version, Fingerprint: &own})); err != nil {
			a.log.Debug().Err(err).Msg("publishing fingerprint")
		}
	}

	ag := countAgreement(a.cfg.Node, own.Hash, members)
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.agreement.Since.IsZero() || ag.Converged != c.agreement.Converged {
		ag.Since = now
	} else {
		ag.Since = c.agreement.Since
	}
	c.agreement = ag
	sample := api.AgreementSample{Time: now, Ratio: ag.Ratio, Agree: ag.Agree, Members: ag.Members}
	if len(c.history) < agreementHistory {
		c.history = append(c.history, sample)
	} else {
		c.history[c.head] = sample
		c.head = (c.head + 1) % agreementHistory
	}
}

// countAgreement counts the live members whose fingerprint hash is hash;
// self always agrees with itself.
func countAgreement(self string, hash uint64, members []gossip.Member) api.Agreement {
	var ag api.Agreement
	for _, m := range members {
		ag.Members++
		if m.Name == self {
			ag.Agree++
			continue
		}
		meta, _ := decodeMeta(m.Meta)
		switch {
		case meta.Fingerprint == nil:
			ag.Unknown++
		case meta.Fingerprint.Hash == hash:
			ag.Agree++
		}
	}
	if ag.Members == 0 { // before the node lists itself
		ag.Members, ag.Agree = 1, 1
	}
	ag.Ratio = float64(ag.Agree) / float64(ag.Members)
	ag.Converged = ag.Agree == ag.Members
	return ag
}

// ownFingerprint is this agent's fingerprint as of the last tick.
func (a *Agent) ownFingerprint() fingerprint {
	a.conv.mu.Lock()
	defer a.conv.mu.Unlock()
	return a.conv.own
}

// Agreement is how many members agree with this agent, as of the last tick.
func (a *Agent) Agreement() api.Agreement {
	a.conv.mu.Lock()
	defer a.conv.mu.Unlock()
	return a.conv.agreement
}

// AgreementHistory is the last five minutes of agreement, oldest first.
func (a *Agent) AgreementHistory() api.AgreementHistory {
	a.conv.mu.Lock()
	defer a.conv.mu.Unlock()
	out := make([]api.AgreementSample, 0, len(a.conv.history))
	out = append(out, a.conv.history[a.conv.head:]...)
	out = append(out, a.conv.history[:a.conv.head]...)
	return api.AgreementHistory{Samples: out}
}

// toAPIFingerprint converts a fingerprint to the wire type.
func toAPIFingerprint(f fingerprint) *api.Fingerprint {
	clamp := func(v uint64) int { return int(min(v, math.MaxInt32)) } // from the network: any value
	return &api.Fingerprint{Hash: hashHex(f.Hash), Origins: clamp(f.Origins), Instances: clamp(f.Instances), Changed: f.Changed}
}

// clusterCollector reports the agreement, the fingerprint's updates and the
// failed probes.
type clusterCollector struct{ a *Agent }

var (
	agreementRatioDesc = prometheus.NewDesc("grapevine_cluster_agreement_ratio",
		"Share of live members (this agent included) whose catalog fingerprint equals this agent's; 1 when converged.", nil, nil)
	agreementMembersDesc = prometheus.NewDesc("grapevine_cluster_agreeing_members",
		"Live members (this agent included) whose catalog fingerprint equals this agent's.", nil, nil)
	probeFailuresDesc = prometheus.NewDesc("grapevine_gossip_probe_failures_total",
		"SWIM probes of other agents by this agent that got no ack (each makes the member suspect here until a probe succeeds or it is declared dead).", nil, nil)
	fingerprintUpdatesDesc = prometheus.NewDesc("grapevine_cluster_fingerprint_updates_total",
		"Changes of this agent's gossip metadata (changed) and the memberlist updates that carried them (broadcast; rate-limited).", []string{"event"}, nil)
)

func (c *clusterCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- agreementRatioDesc
	ch <- agreementMembersDesc
	ch <- fingerprintUpdatesDesc
	ch <- probeFailuresDesc
}

func (c *clusterCollector) Collect(ch chan<- prometheus.Metric) {
	ag := c.a.Agreement()
	ch <- prometheus.MustNewConstMetric(agreementRatioDesc, prometheus.GaugeValue, ag.Ratio)
	ch <- prometheus.MustNewConstMetric(agreementMembersDesc, prometheus.GaugeValue, float64(ag.Agree))
	if node := c.a.Node(); node != nil {
		st := node.MetaStats()
		ch <- prometheus.MustNewConstMetric(fingerprintUpdatesDesc, prometheus.CounterValue, float64(st.Changes), "changed")
		ch <- prometheus.MustNewConstMetric(fingerprintUpdatesDesc, prometheus.CounterValue, float64(st.Broadcasts), "broadcast")
		ch <- prometheus.MustNewConstMetric(probeFailuresDesc, prometheus.CounterValue, float64(node.ProbeFailures()))
	}
}
