package dnsserver

import (
	"net/netip"
	"testing"

	"github.com/miekg/dns"
)

// BenchmarkRespond is the in-process cost of answering a cached query (no
// sockets): what precomputed answers leave per query.
func BenchmarkRespond(b *testing.B) {
	for _, c := range []struct {
		name string
		m    *dns.Msg
	}{
		{"A-3-records", msgFor("api.service.grapevine.", dns.TypeA, 0)},
		{"A-dedup-zone", msgFor("web.service.grapevine.", dns.TypeA, 0)},
		{"SRV-edns", msgFor("_web._tcp.service.grapevine.", dns.TypeSRV, 1232)},
		{"SRV-200-tcp", msgFor("big.service.grapevine.", dns.TypeSRV, 0)},
		{"NXDOMAIN", msgFor("nope.service.grapevine.", dns.TypeA, 1232)},
		{"REFUSED", msgFor("example.com.", dns.TypeA, 0)},
	} {
		b.Run(c.name, func(b *testing.B) {
			s := startServer(b, testConfig(testSource()))
			w := newWorker(&stats{}, 65535)
			pkt := mustPack(c.m)
			udp := c.name != "SRV-200-tcp"
			client := netip.MustParseAddr("127.0.0.1")
			b.ReportAllocs()
			for b.Loop() {
				if s.respond(w, pkt, udp, client) == nil {
					b.Fatal("no answer")
				}
			}
		})
	}
}
