// Package agent is the composition root of the Grapevine daemon: configuration,
// lifecycle, the HTTP API, the DNS server and metrics, wiring catalog, gossip and
// probe together.
package agent
