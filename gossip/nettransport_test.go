package gossip

import (
	"bytes"
	"net"
	"strconv"
	"testing"
	"time"
)

// Packets arrive whole and each in its own buffer (the read buffer is
// reused), sent to a literal address or a host name; the filter drops what
// it refuses; Shutdown ends the readers and is idempotent.
func TestNetTransportPackets(t *testing.T) {
	a, err := newNetTransport("127.0.0.1", 0)
	if err != nil {
		t.Fatal(err)
	}
	b, err := newNetTransport("127.0.0.1", 0)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Shutdown()
	defer b.Shutdown()
	refused := 0
	b.setPacketFilter(func(from net.Addr) bool {
		if from.(*net.UDPAddr).Port != a.port() {
			refused++
			return false
		}
		return true
	})
	to := "127.0.0.1:" + strconv.Itoa(b.port())
	msgs := [][]byte{bytes.Repeat([]byte{1}, 1400), []byte("second"), bytes.Repeat([]byte{3}, 9000)}
	for i, m := range msgs {
		addr := to
		if i == 1 {
			addr = "localhost:" + strconv.Itoa(b.port())
		}
		if _, err := a.WriteTo(m, addr); err != nil {
			t.Fatalf("write %d: %v", i, err)
		}
	}
	var got [][]byte
	for range msgs {
		select {
		case p := <-b.PacketCh():
			got = append(got, p.Buf)
		case <-time.After(15 * time.Second):
			t.Fatalf("got %d of %d packets", len(got), len(msgs))
		}
	}
	for i, m := range msgs {
		if !bytes.Equal(got[i], m) || cap(got[i]) > 2*len(m)+64 {
			t.Errorf("packet %d: %d bytes (cap %d), want %d", i, len(got[i]), cap(got[i]), len(m))
		}
	}
	// A packet the filter refuses never reaches PacketCh.
	u, err := net.Dial("udp", to)
	if err != nil {
		t.Fatal(err)
	}
	u.Write([]byte("stranger"))
	u.Close()
	a.WriteTo([]byte("after"), to)
	select {
	case p := <-b.PacketCh():
		if string(p.Buf) != "after" {
			t.Errorf("got %q, want the stranger's packet dropped", p.Buf)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("no packet after the refused one")
	}
	if c := a.counts.snapshot(); c.PacketsSent != 4 || c.BytesSent != uint64(1400+6+9000+5) {
		t.Errorf("sender counted %+v, want 4 packets of %d bytes", c, 1400+6+9000+5)
	}
	if c := b.counts.snapshot(); c.PacketsReceived != 5 {
		t.Errorf("receiver counted %d packets, want 5 (the refused one too)", c.PacketsReceived)
	}
	if refused != 1 {
		t.Errorf("refused %d packets, want 1", refused)
	}
	if err := b.Shutdown(); err != nil {
		t.Fatal(err)
	}
	if err := b.Shutdown(); err != nil {
		t.Fatal(err)
	}
}
