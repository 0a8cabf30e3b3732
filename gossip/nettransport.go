package gossip

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	sockaddr "github.com/hashicorp/go-sockaddr"
	"github.com/hashicorp/memberlist"
)

// netTransport is the real network under memberlist (UDP packets, TCP
// streams on one address and port), in place of memberlist's NetTransport,
// which allocates a fresh 64 KiB buffer for every packet it reads: on a busy
// agent that garbage, not the packets, drove the garbage collector (a third
// of the CPU an agent spent per change in bench-cluster). Here one read
// buffer is reused and each packet is copied out at its own size; sends to a
// literal address ("ip:port", what memberlist always passes) resolve without
// allocating. Inbound packets go straight to memberlist's channel after the
// guard's filter, without a goroutine between them.
type netTransport struct {
	udp     *net.UDPConn
	tcp     *net.TCPListener
	bindIP  string
	packets chan *memberlist.Packet
	streams chan net.Conn
	// accept, once set (setPacketFilter), decides whether a packet from a
	// source is handed to memberlist; until then none is.
	accept   atomic.Pointer[func(net.Addr) bool]
	shutdown atomic.Bool
	wg       sync.WaitGroup
	counts   netCounts
}

// netCounts counts what crosses the real network (Stats.Network).
type netCounts struct {
	pktsOut, bytesOut, pktsIn, bytesIn atomic.Uint64
	streamsOut, streamsIn              atomic.Uint64
}

func (c *netCounts) snapshot() NetworkCounters {
	return NetworkCounters{
		PacketsSent: c.pktsOut.Load(), BytesSent: c.bytesOut.Load(),
		PacketsReceived: c.pktsIn.Load(), BytesReceived: c.bytesIn.Load(),
		StreamsOpened: c.streamsOut.Load(), StreamsAccepted: c.streamsIn.Load(),
	}
}

const (
	// udpReadBuf is the read buffer: the largest UDP payload.
	udpReadBuf = 65536
	// udpSocketBuf is the kernel receive buffer asked for, as memberlist does:
	// bursts (two relay trees at once, a push/pull wave) wait there.
	udpSocketBuf = 2 << 20
)

var _ memberlist.NodeAwareTransport = (*netTransport)(nil)

// newNetTransport listens on ip:port (TCP, then UDP on the same port; a
// kernel-chosen port is retried when UDP finds it taken).
func newNetTransport(ip string, port int) (*netTransport, error) {
	addr := net.ParseIP(ip)
	if addr == nil {
		return nil, fmt.Errorf("gossip: bind address %q is not an IP", ip)
	}
	tries := 1
	if port == 0 {
		tries = 10
	}
	var err error
	for range tries {
		var t *netTransport
		if t, err = listen(addr, ip, port); err == nil {
			return t, nil
		}
		if !strings.Contains(err.Error(), "address already in use") {
			break
		}
	}
	return nil, fmt.Errorf("gossip: listen %s:%d: %w", ip, port, err)
}

func listen(addr net.IP, ip string, port int) (*netTransport, error) {
	tcp, err := net.ListenTCP("tcp", &net.TCPAddr{IP: addr, Port: port})
	if err != nil {
		return nil, err
	}
	port = tcp.Addr().(*net.TCPAddr).Port
	udp, err := net.ListenUDP("udp", &net.UDPAddr{IP: addr, Port: port})
	if err != nil {
		tcp.Close()
		return nil, err
	}
	for size := udpSocketBuf; size >= 64<<10; size /= 2 {
		if udp.SetReadBuffer(size) == nil {
			break
		}
	}
	t := &netTransport{udp: udp, tcp: tcp, bindIP: ip,
		packets: make(chan *memberlist.Packet), streams: make(chan net.Conn)}
	t.wg.Add(2)
	go t.readPackets()
	go t.acceptStreams()
	return t, nil
}

// setPacketFilter installs the guard's packet filter.
func (t *netTransport) setPacketFilter(accept func(net.Addr) bool) { t.accept.Store(&accept) }

// port is the bound port (TCP and UDP).
func (t *netTransport) port() int { return t.tcp.Addr().(*net.TCPAddr).Port }

func (t *netTransport) readPackets() {
	defer t.wg.Done()
	buf := make([]byte, udpReadBuf)
	for {
		n, ap, err := t.udp.ReadFromUDPAddrPort(buf)
		now := time.Now()
		if err != nil {
			if t.shutdown.Load() || errors.Is(err, net.ErrClosed) {
				return
			}
			continue // a transient error (ICMP-induced); memberlist logs nothing useful either
		}
		if n < 1 {
			continue
		}
		t.counts.pktsIn.Add(1)
		t.counts.bytesIn.Add(uint64(n))
		from := net.UDPAddrFromAddrPort(ap)
		if accept := t.accept.Load(); accept == nil || !(*accept)(from) {
			continue
		}
		t.packets <- &memberlist.Packet{Buf: append([]byte(nil), buf[:n]...), From: from, Timestamp: now}
	}
}

func (t *netTransport) acceptStreams() {
	defer t.wg.Done()
	var delay time.Duration
	for {
		c, err := t.tcp.AcceptTCP()
		if err != nil {
			if t.shutdown.Load() || errors.Is(err, net.ErrClosed) {
				return
			}
			// Out of file descriptors and the like: back off, as memberlist does.
			delay = min(max(2*delay, 5*time.Millisecond), time.Second)
			time.Sleep(delay)
			continue
		}
		delay = 0
		t.counts.streamsIn.Add(1)
		t.streams <- c
	}
}

func (t *netTransport) FinalAdvertiseAddr(ip string, port int) (net.IP, int, error) {
	if ip != "" {
		a := net.ParseIP(ip)
		if a == nil {
			return nil, 0, fmt.Errorf("gossip: advertise address %q is not an IP", ip)
		}
		if a4 := a.To4(); a4 != nil {
			a = a4
		}
		return a, port, nil
	}
	if t.bindIP == "0.0.0.0" {
		priv, err := sockaddr.GetPrivateIP()
		if err != nil {
			return nil, 0, fmt.Errorf("gossip: find a private address to advertise: %w", err)
		}
		if priv == "" {
			return nil, 0, errors.New("gossip: no private address to advertise; set the advertise address")
		}
		return net.ParseIP(priv), t.port(), nil
	}
	return t.tcp.Addr().(*net.TCPAddr).IP, t.port(), nil
}

func (t *netTransport) WriteTo(b []byte, addr string) (time.Time, error) {
	var err error
	if ap, perr := netip.ParseAddrPort(addr); perr == nil {
		_, err = t.udp.WriteToUDPAddrPort(b, ap)
	} else {
		var ua *net.UDPAddr
		if ua, err = net.ResolveUDPAddr("udp", addr); err != nil {
			return time.Time{}, err
		}
		_, err = t.udp.WriteTo(b, ua)
	}
	if err == nil {
		t.counts.pktsOut.Add(1)
		t.counts.bytesOut.Add(uint64(len(b)))
	}
	return time.Now(), err
}

func (t *netTransport) WriteToAddress(b []byte, a memberlist.Address) (time.Time, error) {
	return t.WriteTo(b, a.Addr)
}

func (t *netTransport) PacketCh() <-chan *memberlist.Packet { return t.packets }
func (t *netTransport) StreamCh() <-chan net.Conn           { return t.streams }

func (t *netTransport) DialTimeout(addr string, timeout time.Duration) (net.Conn, error) {
	d := net.Dialer{Timeout: timeout}
	c, err := d.Dial("tcp", addr)
	if err == nil {
		t.counts.streamsOut.Add(1)
	}
	return c, err
}

func (t *netTransport) DialAddressTimeout(a memberlist.Address, timeout time.Duration) (net.Conn, error) {
	return t.DialTimeout(a.Addr, timeout)
}

// Shutdown closes the sockets and waits for the readers. memberlist keeps
// draining PacketCh and StreamCh until its Shutdown has returned from this.
func (t *netTransport) Shutdown() error {
	if t.shutdown.Swap(true) {
		return nil
	}
	t.tcp.Close()
	t.udp.Close()
	t.wg.Wait()
	return nil
}
