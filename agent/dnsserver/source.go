package dnsserver

import (
	"context"
	"net/netip"
	"strconv"
	"time"
)

// Instance is one service instance as DNS serves it.
type Instance struct {
	Node string
	// Address is an IP or a host name. When the instance was registered
	// without one, it is its node's address and NodeAddress is set.
	Address     string
	NodeAddress bool
	Port        int
	Tags        []string
	Zone        string
	// TTL overrides the service TTL when > 0 (from the meta key "dns_ttl").
	TTL   uint32
	Stale bool // owner unreachable
}

// Source is what the server answers from. The agent implements it over its
// catalog and membership.
type Source interface {
	// Service returns the default lookup of a service (healthy instances, or
	// stale over empty) and the service's change index; index 0 means the
	// service is unknown. Called on cache misses only: it may allocate.
	Service(name string) (index uint64, instances []Instance)
	// ServiceIndex is the service's change index alone. Called on every
	// query: it must be cheap, lock-free and not allocate.
	ServiceIndex(name string) uint64
	// NodeAddress returns a node's address (an IP) by name, matched
	// case-insensitively.
	NodeAddress(name string) (string, bool)
	// Version changes whenever node addresses change (answers depending on
	// them are rebuilt). Called on every query: cheap.
	Version() uint64
}

// HostResolver looks up the addresses of a host name; *net.Resolver
// implements it.
type HostResolver interface {
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
}

// MetaTTL is the instance meta key that overrides the service TTL of DNS
// answers holding the instance: a Go duration ("30s") or whole seconds
// ("30"), 1 s to 24 h.
const MetaTTL = "dns_ttl"

// ParseTTL reads a MetaTTL value; false if it is not a valid TTL.
func ParseTTL(s string) (uint32, bool) {
	if n, err := strconv.ParseUint(s, 10, 32); err == nil {
		if n < 1 || n > uint64(maxTTL/time.Second) {
			return 0, false
		}
		return uint32(n), true
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < time.Second || d > maxTTL {
		return 0, false
	}
	return seconds(d), true
}
