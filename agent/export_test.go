package agent

import (
	"context"
	"net"
	"net/http"
	"net/netip"
)

// FingerprintMetaForTest is the gossip metadata of a member whose catalog
// fingerprint has the given hash (for tests of disagreeing members).
func FingerprintMetaForTest(zone string, hash uint64) []byte {
	return encodeMeta(nodeMeta{Zone: zone, Version: "test", Fingerprint: &fingerprint{Hash: hash, Origins: 1}})
}

// HTTPHandlerForTest is the handler of the native API's listener and the
// context of one connection to it, as net/http gives it to each request
// (for benchmarks of the handler path without sockets).
func (a *Agent) HTTPHandlerForTest() (http.Handler, context.Context) {
	return a.http.srv.Handler(), a.http.srv.ConnContext(nil)
}

// ConsulHandlerForTest is HTTPHandlerForTest for the Consul listener.
func (a *Agent) ConsulHandlerForTest() (http.Handler, context.Context) {
	return a.consul.gs.srv.Handler(), a.consul.gs.srv.ConnContext(nil)
}

// PerAddressClientsForTest makes every client address count apart for
// http_config.max_conns_per_client, so loopback addresses can stand for
// several hosts.
func PerAddressClientsForTest(c *Config) {
	c.HTTPConfig.clientKey = func(a net.Addr) netip.Prefix {
		ap, _ := netip.ParseAddrPort(a.String())
		return netip.PrefixFrom(ap.Addr(), ap.Addr().BitLen())
	}
}
