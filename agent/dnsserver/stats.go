package dnsserver

import (
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
)

type transport uint8

const (
	transportUDP transport = iota
	transportTCP
	nTransports
)

var transportNames = [nTransports]string{"udp", "tcp"}

var typeNames = [...]string{"A", "AAAA", "SRV", "SOA", "NS", "ANY", "PTR", "TXT", "CNAME", "MX", "HTTPS", "other"}

func typeIndex(t uint16) int {
	switch t {
	case typeA:
		return 0
	case typeAAAA:
		return 1
	case typeSRV:
		return 2
	case typeSOA:
		return 3
	case typeNS:
		return 4
	case typeANY:
		return 5
	case typePTR:
		return 6
	case typeTXT:
		return 7
	case typeCNAME:
		return 8
	case typeMX:
		return 9
	case typeHTTPS:
		return 10
	}
	return len(typeNames) - 1
}

var rcodeNames = [...]string{"NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMP", "REFUSED", "BADVERS"}

func rcodeIndex(rc uint8) int {
	if rc == rcodeBadVers {
		return 6
	}
	return int(min(rc, 5))
}

// stats are one worker's counters. Workers own one each, so the hot path
// adds to a cache line no other core writes; a scrape sums them.
type stats struct {
	queries     [nTransports][len(typeNames)][len(rcodeNames)]atomic.Uint64
	truncated   atomic.Uint64
	malformed   atomic.Uint64
	builds      atomic.Uint64
	rateLimited [2]atomic.Uint64 // dropped, slipped
	_           [64]byte
}

func (s *stats) count(tr transport, qtype uint16, rcode uint8) {
	s.queries[tr][typeIndex(qtype)][rcodeIndex(rcode)].Add(1)
}

var (
	descQueries = prometheus.NewDesc("grapevine_dns_queries_total",
		"DNS queries answered, by transport, query type and response code.", []string{"transport", "type", "rcode"}, nil)
	descTruncated = prometheus.NewDesc("grapevine_dns_truncated_total",
		"UDP answers sent with TC set because records did not fit the client's size (it retries over TCP).", nil, nil)
	descMalformed = prometheus.NewDesc("grapevine_dns_malformed_total",
		"Packets dropped without an answer (shorter than a header, or not a query).", nil, nil)
	descBuilds = prometheus.NewDesc("grapevine_dns_answer_builds_total",
		"Answers computed from the catalog (cache misses and answers rebuilt after a change).", nil, nil)
	descRateLimited = prometheus.NewDesc("grapevine_dns_rate_limited_total",
		"UDP answers withheld by response rate limiting: dropped, or slipped (sent empty with TC).", []string{"action"}, nil)
	descCache = prometheus.NewDesc("grapevine_dns_cache_entries",
		"Precomputed answers held.", nil, nil)
	descHostLookups = prometheus.NewDesc("grapevine_dns_host_lookups_total",
		"Lookups of instance host names through the agent's resolver, by result.", []string{"result"}, nil)
	descTCPRejected = prometheus.NewDesc("grapevine_dns_tcp_rejected_total",
		"TCP connections closed at once because the connection limit was reached.", nil, nil)
)

// Describe implements prometheus.Collector.
func (s *Server) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descQueries, descTruncated, descMalformed, descBuilds, descRateLimited, descCache, descHostLookups, descTCPRejected} {
		ch <- d
	}
}

// Collect implements prometheus.Collector, summing the workers' counters.
func (s *Server) Collect(ch chan<- prometheus.Metric) {
	var q [nTransports][len(typeNames)][len(rcodeNames)]uint64
	var trunc, malformed, builds, dropped, slipped uint64
	for _, st := range s.stats {
		for t := range q {
			for i := range q[t] {
				for j := range q[t][i] {
					q[t][i][j] += st.queries[t][i][j].Load()
				}
			}
		}
		trunc += st.truncated.Load()
		malformed += st.malformed.Load()
		builds += st.builds.Load()
		dropped += st.rateLimited[0].Load()
		slipped += st.rateLimited[1].Load()
	}
	for t := range q {
		for i := range q[t] {
			for j, v := range q[t][i] {
				if v > 0 {
					ch <- prometheus.MustNewConstMetric(descQueries, prometheus.CounterValue, float64(v), transportNames[t], typeNames[i], rcodeNames[j])
				}
			}
		}
	}
	counter := func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	counter(descTruncated, trunc)
	counter(descMalformed, malformed)
	counter(descBuilds, builds)
	counter(descRateLimited, dropped, "dropped")
	counter(descRateLimited, slipped, "slipped")
	ch <- prometheus.MustNewConstMetric(descCache, prometheus.GaugeValue, float64(s.cache.len()))
	counter(descHostLookups, s.hosts.ok.Load(), "ok")
	counter(descHostLookups, s.hosts.failed.Load(), "error")
	counter(descTCPRejected, s.tcpRejected.Load())
}
