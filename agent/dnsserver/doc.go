// Package dnsserver is the agent's authoritative DNS server. It answers the
// names of services, nodes and addresses under the configured domains
// (grapevine., and consul. when added) from a Source — the agent's catalog —
// as docs/dns.md describes: NAME.service[.ZONE].DOMAIN and its tag and
// RFC 2782 forms, NODE.node.DOMAIN, HEX.addr.DOMAIN, SOA and NS at the apex,
// REFUSED outside the domains.
//
// # Answers
//
// The first query of a name and type builds the answer's records in wire
// form (build.go), each owned by a compression pointer to the question, and
// caches them (cache.go) with what they were built from: the change index of
// every service read, the Source's Version when node addresses were read,
// the host cache's generation when host names were resolved. A later query
// whose entry is still valid costs a parse (wire.go), a map lookup and a copy
// of the records behind its own header and question, shuffled within the
// asker's zone and the rest, trimmed to its size (answer.go). That path
// does not allocate.
//
// # Invariants
//
//   - Never a CNAME; no record twice in a section; one TTL per RRset.
//   - Every negative answer carries the domain's SOA, TTL = MINIMUM =
//     NegativeTTL; names with names below them are never NXDOMAIN.
//   - A UDP answer never exceeds min(max(advertised, 512), MaxUDPSize);
//     when the answers do not fit it carries none, with TC.
//   - Bad packets get FORMERR, NOTIMP or no answer; nothing panics
//     (FuzzParse, FuzzRespond); a panic would be logged and the query
//     dropped.
//
// # Concurrency
//
// New starts the goroutines: one per UDP worker (on Linux each with its own
// SO_REUSEPORT socket, reading and answering in batches with recvmmsg and
// sendmmsg), one accepting TCP, one per TCP connection (at most 256), and
// host lookups in the background (at most 4). Close stops and waits for all
// of them. Cache entries are immutable and replaced whole; workers own their
// scratch space and counters. Source methods are called from any worker
// concurrently.
package dnsserver
