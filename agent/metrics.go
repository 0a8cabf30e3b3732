package agent

import (
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/grapevine-sd/grapevine/api"
	"github.com/grapevine-sd/grapevine/catalog"
	"github.com/grapevine-sd/grapevine/gossip"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// Metric names follow grapevine_<subsystem>_<thing>_<unit>; each is listed in
// docs/metrics.md. Values are read from the packages' Stats at scrape time, so
// nothing is counted twice and the hot paths carry no metric code.
type agentMetrics struct {
	httpRequests *prometheus.CounterVec
	httpDuration *prometheus.HistogramVec
}

func (a *Agent) newMetrics() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	reg.MustRegister(&catalogCollector{a: a}, &memberCollector{a: a}, &gossipCollector{a: a}, &clusterCollector{a: a})
	a.metricsHTTP = &agentMetrics{
		httpRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "grapevine_http_requests_total", Help: "HTTP API requests by route and status code.",
		}, []string{"route", "code"}),
		httpDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "grapevine_http_request_duration_seconds", Help: "HTTP API request latency (blocking queries and streams included).",
			Buckets: []float64{.0001, .0005, .001, .005, .01, .05, .1, .5, 1, 5, 30, 300},
		}, []string{"route"}),
	}
	reg.MustRegister(a.metricsHTTP.httpRequests, a.metricsHTTP.httpDuration)
	a.guardMetrics = newGuardMetrics(reg)
	return reg
}

// routeMetrics are the request metrics of one route, resolved when the route
// is first served: counting a request looks no label up, except for a status
// other than 200.
type routeMetrics struct {
	pattern string // the mux's pattern ("" for requests no route served)
	label   string // route label: pattern with the listener's prefix
	reqs    *prometheus.CounterVec
	ok      prometheus.Counter // status 200
	dur     prometheus.Observer
}

func (a *Agent) newRouteMetrics(pattern, label string) *routeMetrics {
	m := a.metricsHTTP
	return &routeMetrics{pattern: pattern, label: label, reqs: m.httpRequests,
		ok: m.httpRequests.WithLabelValues(label, "200"), dur: m.httpDuration.WithLabelValues(label)}
}

func (m *routeMetrics) observe(code int, d time.Duration) {
	if code == 200 {
		m.ok.Inc()
	} else {
		m.reqs.WithLabelValues(m.label, strconv.Itoa(code)).Inc()
	}
	m.dur.Observe(d.Seconds())
}

// catalogCollector reports the catalog's counts from one Stats call per
// scrape (Stats takes the catalog's lock and walks the origins).
type catalogCollector struct{ a *Agent }

type catalogMetric struct {
	desc  *prometheus.Desc
	kind  prometheus.ValueType
	value func(catalog.Stats) float64
}

func gaugeOf(name, help string, f func(catalog.Stats) float64) catalogMetric {
	return catalogMetric{prometheus.NewDesc(name, help, nil, nil), prometheus.GaugeValue, f}
}

var catalogMetrics = []catalogMetric{
	gaugeOf("grapevine_catalog_instances", "Instance records held, all origins.", func(s catalog.Stats) float64 { return float64(s.Instances) }),
	gaugeOf("grapevine_catalog_local_instances", "Instances registered on this agent.", func(s catalog.Stats) float64 { return float64(s.Local) }),
	gaugeOf("grapevine_catalog_services", "Services with at least one held record.", func(s catalog.Stats) float64 { return float64(s.Services) }),
	gaugeOf("grapevine_catalog_origins", "Agents whose records this replica holds.", func(s catalog.Stats) float64 { return float64(s.Origins) }),
	gaugeOf("grapevine_catalog_stale_instances", "Records served stale (owner unreachable, within grace).", func(s catalog.Stats) float64 { return float64(s.Stale) }),
	gaugeOf("grapevine_catalog_expired_instances", "Records held but not served by default lookups.", func(s catalog.Stats) float64 { return float64(s.Expired) }),
	gaugeOf("grapevine_catalog_tombstones", "Deletion markers held.", func(s catalog.Stats) float64 { return float64(s.Tombstones) }),
	{prometheus.NewDesc("grapevine_catalog_invalid_records_total", "Records from the network that failed to decode.", nil, nil),
		prometheus.CounterValue, func(s catalog.Stats) float64 { return float64(s.Invalid) }},
	gaugeOf("grapevine_catalog_index", "Global change index of the catalog.", func(s catalog.Stats) float64 { return float64(s.Index) }),
	gaugeOf("grapevine_catalog_epoch", "This agent's current epoch as an origin.", func(s catalog.Stats) float64 { return float64(s.Epoch) }),
	gaugeOf("grapevine_preservation_active", "1 while self-preservation holds records of unreachable agents.", func(s catalog.Stats) float64 {
		if s.Preservation.Active {
			return 1
		}
		return 0
	}),
	gaugeOf("grapevine_preservation_unreachable_origins", "Agents unreachable as self-preservation counts them.", func(s catalog.Stats) float64 { return float64(s.Preservation.Unreachable) }),
}

func (c *catalogCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, m := range catalogMetrics {
		ch <- m.desc
	}
}

func (c *catalogCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.a.cat.Stats()
	for _, m := range catalogMetrics {
		ch <- prometheus.MustNewConstMetric(m.desc, m.kind, m.value(st))
	}
}

// memberCollector reports members by SWIM state.
type memberCollector struct{ a *Agent }

var memberDesc = prometheus.NewDesc("grapevine_members", "Cluster members by state.", []string{"state"}, nil)

func (c *memberCollector) Describe(ch chan<- *prometheus.Desc) { ch <- memberDesc }

func (c *memberCollector) Collect(ch chan<- prometheus.Metric) {
	// suspect: members whose probe by this agent went unanswered, until a
	// probe succeeds or they are declared dead (gossip/suspect.go).
	counts := map[api.MemberStatus]int{api.MemberAlive: 0, api.MemberSuspect: 0, api.MemberLeft: 0, api.MemberFailed: 0}
	for _, m := range c.a.Members() {
		counts[m.Status]++
	}
	for st, n := range counts {
		ch <- prometheus.MustNewConstMetric(memberDesc, prometheus.GaugeValue, float64(n), string(st))
	}
}

// gossipCollector reports the gossip node's message counters.
type gossipCollector struct{ a *Agent }

var (
	gossipMsgsDesc  = prometheus.NewDesc("grapevine_gossip_messages_total", "Gossip messages by direction and kind.", []string{"direction", "kind"}, nil)
	gossipBytesDesc = prometheus.NewDesc("grapevine_gossip_bytes_total", "Gossip message bytes (before memberlist framing) by direction and kind.", []string{"direction", "kind"}, nil)
	gossipEvDesc    = prometheus.NewDesc("grapevine_gossip_events_total", "Gossip outcomes: fresh deltas, invalid messages, dropped sends, rejoins.", []string{"event"}, nil)
	gossipRTTDesc   = prometheus.NewDesc("grapevine_gossip_probe_rtt_seconds", "Round trips of successful SWIM probes of other agents.", nil, nil)
	gossipRejDesc   = prometheus.NewDesc("grapevine_gossip_rejected_total", "Gossip input rejected, by reason (decrypt, label, cidr, malformed, too_large, unknown_origin, bad_epoch, over_quota, rate_limited, stream_limit, timeout, invalid).", []string{"reason"}, nil)
	gossipPktsDesc  = prometheus.NewDesc("grapevine_gossip_udp_packets_total", "UDP packets on the gossip port by direction (memberlist's probes and gossip and the encryption included).", []string{"direction"}, nil)
	gossipPktBytes  = prometheus.NewDesc("grapevine_gossip_udp_bytes_total", "Bytes of the UDP packets on the gossip port by direction.", []string{"direction"}, nil)
	gossipStreams   = prometheus.NewDesc("grapevine_gossip_tcp_streams_total", "TCP streams of the gossip port: opened (dialled by this agent) and accepted.", []string{"direction"}, nil)
	gossipHealth    = prometheus.NewDesc("grapevine_gossip_health_score", "memberlist's local health score (Lifeguard awareness): 0 is healthy; higher means this agent itself is missing acks (overloaded or on a bad link).", nil, nil)
)

func (c *gossipCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- gossipMsgsDesc
	ch <- gossipBytesDesc
	ch <- gossipEvDesc
	ch <- gossipRTTDesc
	ch <- gossipHealth
	ch <- gossipRejDesc
	ch <- gossipPktsDesc
	ch <- gossipPktBytes
	ch <- gossipStreams
}

func (c *gossipCollector) Collect(ch chan<- prometheus.Metric) {
	node := c.a.Node()
	if node == nil {
		return
	}
	st := node.Stats()
	for dir, m := range map[string]map[string]gossip.Counter{"sent": st.Sent, "received": st.Received} {
		for kind, v := range m {
			ch <- prometheus.MustNewConstMetric(gossipMsgsDesc, prometheus.CounterValue, float64(v.Messages), dir, kind)
			ch <- prometheus.MustNewConstMetric(gossipBytesDesc, prometheus.CounterValue, float64(v.Bytes), dir, kind)
		}
	}
	for ev, v := range map[string]uint64{"fresh": st.Fresh, "invalid": st.Invalid, "dropped": st.Dropped, "rejoin": st.Rejoins, "sum_equal": st.SumsEqual} {
		ch <- prometheus.MustNewConstMetric(gossipEvDesc, prometheus.CounterValue, float64(v), ev)
	}
	buckets := make(map[float64]uint64, len(gossip.RTTBuckets))
	var cum uint64
	for i, b := range gossip.RTTBuckets {
		cum += st.ProbeRTT.Counts[i]
		buckets[b.Seconds()] = cum
	}
	ch <- prometheus.MustNewConstHistogram(gossipRTTDesc, st.ProbeRTT.Count, st.ProbeRTT.Sum.Seconds(), buckets)
	ch <- prometheus.MustNewConstMetric(gossipHealth, prometheus.GaugeValue, float64(st.HealthScore))
	nc := st.Network
	ch <- prometheus.MustNewConstMetric(gossipPktsDesc, prometheus.CounterValue, float64(nc.PacketsSent), "sent")
	ch <- prometheus.MustNewConstMetric(gossipPktsDesc, prometheus.CounterValue, float64(nc.PacketsReceived), "received")
	ch <- prometheus.MustNewConstMetric(gossipPktBytes, prometheus.CounterValue, float64(nc.BytesSent), "sent")
	ch <- prometheus.MustNewConstMetric(gossipPktBytes, prometheus.CounterValue, float64(nc.BytesReceived), "received")
	ch <- prometheus.MustNewConstMetric(gossipStreams, prometheus.CounterValue, float64(nc.StreamsOpened), "opened")
	ch <- prometheus.MustNewConstMetric(gossipStreams, prometheus.CounterValue, float64(nc.StreamsAccepted), "accepted")
	for reason, v := range st.Rejected {
		ch <- prometheus.MustNewConstMetric(gossipRejDesc, prometheus.CounterValue, float64(v), reason)
	}
}

func sortMembers(ms []api.Member) {
	slices.SortFunc(ms, func(a, b api.Member) int { return strings.Compare(a.Name, b.Name) })
}
