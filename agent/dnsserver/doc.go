// Package dnsserver is the agent's authoritative DNS server: it answers the
// names of services, nodes and addresses under the configured domains
// (docs/dns.md) from a Source, the agent's catalog.
package dnsserver
