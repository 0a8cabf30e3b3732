package simnet

import (
	"testing"
)

// BenchmarkPacket measures one packet through WriteTo, the delivery timer and
// the inbox (zero latency, real time).
func BenchmarkPacket(b *testing.B) {
	cfg := DefaultConfig()
	cfg.DefaultLink = LinkConfig{}
	nw := newNet(b, cfg)
	defer nw.Close()
	src, _ := nw.Transport(a1)
	dst, _ := nw.Transport(a2)
	buf := make([]byte, 512)
	b.ReportAllocs()
	for b.Loop() {
		src.WriteTo(buf, a2)
		<-dst.PacketCh()
	}
}
