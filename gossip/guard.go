package gossip

import (
	"errors"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/memberlist"
	"github.com/rs/zerolog"
)

// guard wraps the network transport memberlist reads from, before memberlist
// sees a byte:
//
//   - packets and streams from sources outside Config.AllowedCIDRs are
//     dropped and counted (ReasonCIDR) — memberlist's own CIDRsAllowed only
//     filters alive messages, not user messages or streams;
//   - inbound streams are capped per source address (maxStreamsPerSource)
//     and in total (maxStreams): more are closed at once and counted
//     (ReasonStreamLimit), so stalled connections cannot pile up;
//   - each inbound stream may deliver at most maxStreamBytes, then reads
//     fail (ReasonTooLarge).
//
// memberlist's own deadline (TCPTimeout) bounds how long a stream lives.
type guard struct {
	inner   memberlist.NodeAwareTransport
	allowed []net.IPNet
	// inspect: gossip is plaintext (no keyring), so push/pull headers are
	// checked as they pass (guardheader.go).
	inspect bool
	reject  func(Reason, error, func(*zerolog.Event))

	packets <-chan *memberlist.Packet // the inner's own, or forwardPackets'
	streams chan net.Conn
	// stopping closes when Shutdown begins: from then on the forwarders
	// drain the inner transport (whose Shutdown waits for its listeners'
	// sends) and drop; done closes after the inner transport stopped.
	stopping chan struct{}
	done     chan struct{}
	wg       sync.WaitGroup
	once     sync.Once

	mu    sync.Mutex     // guards open
	open  map[string]int // inbound streams open, by source IP
	total int            // all inbound streams open
}

const (
	// maxStreams bounds the inbound streams open at once.
	maxStreams = 256
	// maxStreamsPerSource bounds the inbound streams open at once from one
	// source IP: a peer's honest streams are short and few (a push/pull, a
	// sync, a reliable send or two).
	maxStreamsPerSource = 32
	// maxStreamBytes bounds what one inbound stream may deliver: a push/pull
	// (member list and our digest) or a sync message (≤ MaxFrame), with room.
	maxStreamBytes = 24 << 20
)

var _ memberlist.NodeAwareTransport = (*guard)(nil)

// errStreamTooLarge ends reads of a stream over maxStreamBytes.
var errStreamTooLarge = errors.New("gossip: inbound stream over its byte budget")

func newGuard(inner memberlist.Transport, allowed []net.IPNet, inspect bool, reject func(Reason, error, func(*zerolog.Event))) *guard {
	na, ok := inner.(memberlist.NodeAwareTransport)
	if !ok {
		na = shim{inner}
	}
	g := &guard{inner: na, allowed: allowed, inspect: inspect, reject: reject,
		streams:  make(chan net.Conn),
		stopping: make(chan struct{}), done: make(chan struct{}), open: map[string]int{}}
	if f, ok := inner.(packetFilterer); ok {
		// The transport filters and hands packets to memberlist itself:
		// one goroutine hop less per packet.
		f.setPacketFilter(g.allowPacket)
		g.packets = inner.PacketCh()
	} else {
		pc := make(chan *memberlist.Packet)
		g.packets = pc
		g.wg.Add(1)
		go g.forwardPackets(pc)
	}
	g.wg.Add(1)
	go g.forwardStreams()
	return g
}

// packetFilterer is a transport that applies a filter to the packets it
// reads (netTransport).
type packetFilterer interface {
	setPacketFilter(accept func(from net.Addr) bool)
}

// allowPacket reports whether a packet from from may reach memberlist
// (AllowedCIDRs); a refused one is counted.
func (g *guard) allowPacket(from net.Addr) bool {
	if ip, s := addrIP(from); !g.allowedIP(ip) {
		g.reject(ReasonCIDR, nil, func(e *zerolog.Event) { e.Str("source", s).Str("via", "packet") })
		return false
	}
	return true
}

// allowedIP reports whether addr's IP is inside AllowedCIDRs (all are when
// none is configured).
func (g *guard) allowedIP(ip net.IP) bool {
	if len(g.allowed) == 0 {
		return true
	}
	for _, n := range g.allowed {
		if ip != nil && n.Contains(ip) {
			return true
		}
	}
	return false
}

func addrIP(a net.Addr) (net.IP, string) {
	switch v := a.(type) {
	case *net.UDPAddr:
		return v.IP, v.IP.String()
	case *net.TCPAddr:
		return v.IP, v.IP.String()
	}
	host := a.String()
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	return net.ParseIP(strings.Trim(host, "[]")), host
}

func (g *guard) forwardPackets(out chan<- *memberlist.Packet) {
	defer g.wg.Done()
	in := g.inner.PacketCh()
	for {
		select {
		case <-g.done:
			return
		case p := <-in:
			if !g.allowPacket(p.From) {
				continue
			}
			select {
			case out <- p:
			case <-g.stopping: // dropped
			}
		}
	}
}

func (g *guard) forwardStreams() {
	defer g.wg.Done()
	in := g.inner.StreamCh()
	for {
		select {
		case <-g.done:
			return
		case c := <-in:
			ip, src := addrIP(c.RemoteAddr())
			if !g.allowedIP(ip) {
				g.reject(ReasonCIDR, nil, func(e *zerolog.Event) { e.Str("source", src).Str("via", "stream") })
				c.Close()
				continue
			}
			if !g.acquire(src) {
				g.reject(ReasonStreamLimit, nil, func(e *zerolog.Event) { e.Str("source", src) })
				c.Close()
				continue
			}
			gc := &guardedConn{Conn: c, g: g, src: src, inspect: g.inspect}
			select {
			case g.streams <- gc:
			case <-g.stopping:
				gc.Close()
			}
		}
	}
}

func (g *guard) acquire(src string) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.total >= maxStreams || g.open[src] >= maxStreamsPerSource {
		return false
	}
	g.total++
	g.open[src]++
	return true
}

func (g *guard) release(src string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.total--
	if g.open[src]--; g.open[src] <= 0 {
		delete(g.open, src)
	}
}

// guardedConn counts what an inbound stream delivers and frees its slot on
// Close.
type guardedConn struct {
	net.Conn
	g    *guard
	src  string
	read int64
	once sync.Once
	// inspect: the stream's first bytes (head) are still being checked.
	inspect bool
	head    []byte
}

// maxHead bounds the bytes kept to inspect a stream's header.
const maxHead = 512

func (c *guardedConn) Read(b []byte) (int, error) {
	if c.read >= maxStreamBytes {
		c.g.reject(ReasonTooLarge, errStreamTooLarge, func(e *zerolog.Event) { e.Str("source", c.src).Int64("bytes", c.read) })
		return 0, errStreamTooLarge
	}
	if rest := maxStreamBytes - c.read; int64(len(b)) > rest {
		b = b[:rest]
	}
	n, err := c.Conn.Read(b)
	c.read += int64(n)
	if c.inspect && n > 0 {
		c.head = append(c.head, b[:min(n, maxHead-len(c.head))]...)
		done, herr := checkPushPullHeader(c.head)
		if herr != nil {
			c.g.reject(ReasonTooLarge, herr, func(e *zerolog.Event) { e.Str("source", c.src) })
			return 0, herr
		}
		if done || len(c.head) >= maxHead {
			c.inspect, c.head = false, nil
		}
	}
	return n, err
}

func (c *guardedConn) Close() error {
	c.once.Do(func() { c.g.release(c.src) })
	return c.Conn.Close()
}

func (g *guard) PacketCh() <-chan *memberlist.Packet { return g.packets }
func (g *guard) StreamCh() <-chan net.Conn           { return g.streams }

func (g *guard) FinalAdvertiseAddr(ip string, port int) (net.IP, int, error) {
	return g.inner.FinalAdvertiseAddr(ip, port)
}
func (g *guard) WriteTo(b []byte, addr string) (time.Time, error) { return g.inner.WriteTo(b, addr) }
func (g *guard) WriteToAddress(b []byte, addr memberlist.Address) (time.Time, error) {
	return g.inner.WriteToAddress(b, addr)
}
func (g *guard) DialTimeout(addr string, timeout time.Duration) (net.Conn, error) {
	return g.inner.DialTimeout(addr, timeout)
}
func (g *guard) DialAddressTimeout(addr memberlist.Address, timeout time.Duration) (net.Conn, error) {
	return g.inner.DialAddressTimeout(addr, timeout)
}

// Shutdown stops the forwarders and the inner transport. Idempotent.
func (g *guard) Shutdown() error {
	var err error
	g.once.Do(func() {
		close(g.stopping)
		err = g.inner.Shutdown()
		close(g.done)
		g.wg.Wait()
	})
	return err
}

// shim makes a plain Transport node-aware (as memberlist does internally).
type shim struct{ memberlist.Transport }

func (s shim) WriteToAddress(b []byte, addr memberlist.Address) (time.Time, error) {
	return s.WriteTo(b, addr.Addr)
}
func (s shim) DialAddressTimeout(addr memberlist.Address, timeout time.Duration) (net.Conn, error) {
	return s.DialTimeout(addr.Addr, timeout)
}
