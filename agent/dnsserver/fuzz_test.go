package dnsserver

import (
	"encoding/binary"
	"net/netip"
	"testing"

	"github.com/miekg/dns"
)

func fuzzSeeds(f *testing.F) {
	for _, c := range goldenCases {
		f.Add(mustPack(c.msg()))
	}
	f.Add([]byte{})
	f.Add(make([]byte, 12))
	f.Add([]byte{0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 1, 0, 0, 1, 0, 1, 0, 0, 41, 4, 0, 1, 0, 0, 0, 0, 0})
}

// FuzzParse feeds arbitrary packets to the query parser: it never panics and
// what it accepts is consistent.
func FuzzParse(f *testing.F) {
	fuzzSeeds(f)
	f.Fuzz(func(t *testing.T, pkt []byte) {
		var q query
		v := q.parse(pkt)
		if v != verdictAnswer && v != verdictBadVers {
			return
		}
		if q.nameLen < 1 || q.nameLen > maxName || q.questionEnd > len(pkt) || q.questionEnd != headerLen+q.nameLen+4 {
			t.Fatalf("name %d bytes, question ends at %d of %d", q.nameLen, q.questionEnd, len(pkt))
		}
		// The lowercase name has the question's labels.
		n := 0
		for i := range q.nlabels {
			o := int(q.labels[i])
			if o != n {
				t.Fatalf("label %d at %d, want %d", i, o, n)
			}
			n += 1 + int(q.lower[o])
		}
		if n+1 != q.nameLen || q.lower[n] != 0 {
			t.Fatalf("labels end at %d, name is %d bytes", n, q.nameLen)
		}
	})
}

// FuzzRespond feeds arbitrary packets to the whole handler, over UDP and TCP
// sizes: it never panics, answers only queries, and every answer parses, has
// the query's ID and fits the transport's limit.
func FuzzRespond(f *testing.F) {
	fuzzSeeds(f)
	c := testConfig(testSource())
	c.RateLimit.PerSecond = 1000000
	s := startServer(f, c)
	w := newWorker(&stats{}, 65535)
	client := netip.MustParseAddr("127.0.0.1")
	f.Fuzz(func(t *testing.T, pkt []byte) {
		for _, udp := range []bool{true, false} {
			out := s.respond(w, pkt, udp, client)
			if out == nil {
				continue
			}
			if len(pkt) < headerLen || out[0] != pkt[0] || out[1] != pkt[1] || out[2]&0x80 == 0 {
				t.Fatalf("answer %x to %x: not a response with the query's ID", out, pkt)
			}
			limit := 65535
			if udp {
				limit = 512
				var q query
				if q.parse(pkt) == verdictAnswer && q.edns {
					limit = min(max(int(q.udpSize), 512), c.MaxUDPSize)
				}
				// A fixed answer echoes the question, which may be larger.
				limit = max(limit, q.questionEnd+optLen)
			}
			if len(out) > limit {
				t.Fatalf("answer of %d bytes, limit %d", len(out), limit)
			}
			m := new(dns.Msg)
			if err := m.Unpack(out); err != nil {
				t.Fatalf("answer %x does not parse: %v", out, err)
			}
			if an := binary.BigEndian.Uint16(out[6:]); int(an) != len(m.Answer) {
				t.Fatalf("ANCOUNT %d, %d answers", an, len(m.Answer))
			}
		}
	})
}
