package simnet

import (
	"fmt"
	"net"
	"time"

	"github.com/hashicorp/memberlist"
)

// Transport is one node's endpoint: a memberlist.NodeAwareTransport. Set it as
// memberlist.Config.Transport. It stays valid after a Crash (delivering nothing)
// until Shutdown or a restart on its address.
type Transport struct {
	nw       *Network
	n        *node
	ip       net.IP
	port     int
	packetCh chan *memberlist.Packet // never closed: memberlist reads it until its own shutdown
	streamCh chan net.Conn           // never closed, same reason
	done     chan struct{}           // closed by Shutdown
	closed   bool                    // guarded by nw.mu
}

var _ memberlist.NodeAwareTransport = (*Transport)(nil)

func udpTCP(ip net.IP, port int) (*net.UDPAddr, *net.TCPAddr) {
	return &net.UDPAddr{IP: ip, Port: port}, &net.TCPAddr{IP: ip, Port: port}
}

// Addr returns the normalized "ip:port" the transport is bound to.
func (t *Transport) Addr() string { return t.n.addr }

// FinalAdvertiseAddr returns the bound address whatever memberlist's configured
// advertise address is: routing is by bound address, so advertising another
// would make the node unreachable.
func (t *Transport) FinalAdvertiseAddr(string, int) (net.IP, int, error) {
	return t.ip, t.port, nil
}

// PacketCh is the inbox (Config.InboxSize packets).
func (t *Transport) PacketCh() <-chan *memberlist.Packet { return t.packetCh }

// StreamCh is the accept backlog (Config.StreamBacklog streams).
func (t *Transport) StreamCh() <-chan net.Conn { return t.streamCh }

// Shutdown stops the transport: it receives nothing more, its streams break,
// and WriteTo and dials return ErrShutdown. Its stats stay with the address.
// Idempotent.
func (t *Transport) Shutdown() error {
	t.nw.mu.Lock()
	defer t.nw.mu.Unlock()
	t.nw.shutdownLocked(t)
	return nil
}

// WriteTo sends a packet to addr; see WriteToAddress.
func (t *Transport) WriteTo(b []byte, addr string) (time.Time, error) {
	return t.WriteToAddress(b, memberlist.Address{Addr: addr})
}

// WriteToAddress sends a copy of b to a.Addr, best effort: it never blocks, and
// a lost packet is not an error (like UDP). Errors: ErrShutdown,
// ErrPacketTooLarge, ErrBadAddr.
func (t *Transport) WriteToAddress(b []byte, a memberlist.Address) (time.Time, error) {
	now := time.Now()
	if len(b) > t.nw.cfg.MaxPacketSize {
		return now, fmt.Errorf("%w: %d bytes to %s", ErrPacketTooLarge, len(b), a.Addr)
	}
	n := t.nw
	n.mu.Lock()
	defer n.mu.Unlock()
	if t.closed {
		return now, ErrShutdown
	}
	src := t.n
	dst := n.lookup(a.Addr)
	if dst == nil {
		if _, _, _, err := parseAddr(a.Addr); err != nil {
			return now, err
		}
	}
	src.stats.PacketsSent++
	src.stats.BytesSent += uint64(len(b))
	if src.crashed || src.paused || dst == nil || !dst.live() || !n.reachableLocked(src.addr, dst.addr) {
		src.stats.PacketsLost++
		return now, nil
	}
	lc := n.linkLocked(src.addr, dst.addr)
	if lc.Loss > 0 && n.rng.Float64() < lc.Loss {
		src.stats.PacketsLost++
		return now, nil
	}
	var queue time.Duration // egress serialization backlog
	if src.bw > 0 {
		start := later(src.bwFree, now)
		if start.Sub(now) > n.cfg.BandwidthQueue {
			src.stats.PacketsLost++
			src.stats.BandwidthDrops++
			return now, nil
		}
		src.bwFree = start.Add(time.Duration(float64(len(b)) / float64(src.bw) * float64(time.Second)))
		queue = src.bwFree.Sub(now)
	}
	n.scheduleLocked(src, dst, b, queue+lc.sample(n.rng))
	if lc.Duplicate > 0 && n.rng.Float64() < lc.Duplicate {
		src.stats.PacketsDuplicated++
		n.scheduleLocked(src, dst, b, queue+lc.sample(n.rng))
	}
	return now, nil
}

// slowQueueMax bounds how long a packet waits for a slow node (SetSlow):
// beyond it the node's socket buffer is full and the packet is dropped.
const slowQueueMax = 5 * time.Second

// delivery is one packet copy in flight.
type delivery struct {
	timer *time.Timer
	src   *node
	dst   *node
	epoch uint64 // dst's epoch at send
	buf   []byte
	// handled: the slow receiver has processed it (SetSlow); deliver now.
	handled bool
}

// scheduleLocked delivers a copy of b to dst after delay. Caller holds mu.
func (n *Network) scheduleLocked(src, dst *node, b []byte, delay time.Duration) {
	d := &delivery{src: src, dst: dst, epoch: dst.epoch, buf: append([]byte(nil), b...)}
	n.inflight[d] = struct{}{}
	// The callback takes mu, so it cannot run before d.timer is set.
	d.timer = time.AfterFunc(delay, func() { n.deliver(d) })
}

func (n *Network) deliver(d *delivery) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if _, ok := n.inflight[d]; !ok {
		return // network closed
	}
	delete(n.inflight, d)
	dst := d.dst
	if dst.epoch != d.epoch || !dst.live() || !n.reachableLocked(d.src.addr, dst.addr) {
		d.src.stats.PacketsLost++
		return
	}
	if dst.slow > 0 && !d.handled {
		// A slow node handles one packet at a time: this one is delivered
		// when those before it are done and it has been handled itself.
		now := time.Now()
		start := later(dst.busy, now)
		if start.Sub(now) > slowQueueMax {
			d.src.stats.PacketsLost++
			dst.stats.InboxDrops++
			return
		}
		dst.busy = start.Add(dst.slow)
		dst.stats.SlowDelayed++
		d.handled = true
		n.inflight[d] = struct{}{}
		d.timer = time.AfterFunc(dst.busy.Sub(now), func() { n.deliver(d) })
		return
	}
	p := &memberlist.Packet{Buf: d.buf, From: d.src.udp, Timestamp: time.Now()}
	if dst.paused {
		if len(dst.held) >= n.cfg.PauseQueue {
			d.src.stats.PacketsLost++
			dst.stats.InboxDrops++
			return
		}
		dst.held = append(dst.held, heldPacket{src: d.src, p: p})
		return
	}
	n.pushLocked(d.src, dst, p)
}

// pushLocked puts p into dst's inbox without blocking. Caller holds mu.
func (n *Network) pushLocked(src, dst *node, p *memberlist.Packet) {
	select {
	case dst.t.packetCh <- p:
		dst.stats.PacketsReceived++
		dst.stats.BytesReceived += uint64(len(p.Buf))
	default:
		src.stats.PacketsLost++
		dst.stats.InboxDrops++
	}
}

// later returns the later of a and b (when a queue free at a can start
// something that arrives at b).
func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}
