// Package clientkey names the client a connection counts against in
// per-client limits (the HTTP API's max_conns_per_client, DNS over TCP's
// connections per client): one key per host as far as the address shows it.
//
//   - Loopback (127.0.0.0/8, ::1, and IPv4-mapped 127.x) is one client: every
//     process of the host may use any of the 16 million 127.x source
//     addresses without privilege, so counting them apart would let one
//     local process take every slot of the total cap.
//   - Another IPv4 address is a client of its own.
//   - Another IPv6 address counts with its /64, which one host usually holds
//     whole (and can pick source addresses from freely).
package clientkey

import "net/netip"

// Loopback is the one key of every loopback source.
var Loopback = netip.MustParsePrefix("127.0.0.0/8")

// Of is the key of a client address (the zero Prefix for an invalid one,
// which is then one client of its own).
func Of(a netip.Addr) netip.Prefix {
	a = a.Unmap().WithZone("")
	switch {
	case !a.IsValid():
		return netip.Prefix{}
	case a.IsLoopback():
		return Loopback
	case a.Is4():
		return netip.PrefixFrom(a, 32)
	}
	p, _ := a.Prefix(64)
	return p
}
