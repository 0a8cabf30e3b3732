package simnet

import (
	"fmt"
	"net"
	"os"
	"time"

	"github.com/hashicorp/memberlist"
)

// DialTimeout opens a stream to addr; see DialAddressTimeout.
func (t *Transport) DialTimeout(addr string, timeout time.Duration) (net.Conn, error) {
	return t.DialAddressTimeout(memberlist.Address{Addr: addr}, timeout)
}

// DialAddressTimeout opens a stream to a.Addr. Establishment takes one round
// trip (a draw of each direction's latency). It fails with ErrRefused after that
// round trip if the target has no live transport or a full backlog, with
// ErrUnreachable if a partition, cut or Loss=1 link lies between (after the
// round trip, or after timeout with Config.DialBlackhole), and with an error
// matching os.ErrDeadlineExceeded if timeout (> 0) expires first — always the
// case when this node is paused or crashed. It returns ErrShutdown at once if
// the transport is shut down meanwhile. It never blocks beyond max(timeout,
// round trip).
func (t *Transport) DialAddressTimeout(a memberlist.Address, timeout time.Duration) (net.Conn, error) {
	n := t.nw
	n.mu.Lock()
	if t.closed {
		n.mu.Unlock()
		return nil, ErrShutdown
	}
	self := t.n
	dst := n.lookup(a.Addr)
	if dst == nil {
		if _, _, _, err := parseAddr(a.Addr); err != nil {
			n.mu.Unlock()
			return nil, err
		}
	}
	self.stats.StreamDials++
	rtt := 2 * n.defaultLink.sample(n.rng)
	if dst != nil {
		rtt = n.linkLocked(self.addr, dst.addr).sample(n.rng) + n.linkLocked(dst.addr, self.addr).sample(n.rng)
	}
	wait, fail := rtt, error(nil)
	switch {
	case self.crashed || self.paused:
		wait, fail = timeout, os.ErrDeadlineExceeded
		if timeout <= 0 {
			wait = rtt // a stopped process with no timeout: fail rather than hang forever
		}
	case dst == nil || !n.pathOKLocked(self, dst):
		fail = ErrUnreachable
		if n.cfg.DialBlackhole && timeout > 0 {
			wait = timeout
		}
	case !dst.live():
		fail = ErrRefused
	}
	n.mu.Unlock()

	if timeout > 0 && wait >= timeout {
		wait, fail = timeout, os.ErrDeadlineExceeded
	}
	if err := t.sleep(wait); err != nil {
		return nil, t.dialFailed(a.Addr, err)
	}
	if fail != nil {
		return nil, t.dialFailed(a.Addr, fail)
	}

	n.mu.Lock()
	defer n.mu.Unlock()
	// Re-check: anything may have changed during the round trip.
	switch {
	case t.closed:
		fail = ErrShutdown
	case self.crashed || self.paused || !n.pathOKLocked(self, dst):
		fail = ErrUnreachable
	case !dst.live():
		fail = ErrRefused
	}
	if fail != nil {
		self.stats.StreamDialsFailed++
		return nil, fmt.Errorf("dial %s: %w", a.Addr, fail)
	}
	c1, c2 := net.Pipe()
	p := &pair{a: self, b: dst}
	client := &conn{Conn: c1, nw: n, p: p, self: self, peer: dst}
	server := &conn{Conn: c2, nw: n, p: p, self: dst, peer: self}
	p.ends = [2]*conn{client, server}
	if dst.paused {
		if len(dst.heldSt) >= n.cfg.PauseQueue {
			self.stats.StreamDialsFailed++
			return nil, fmt.Errorf("dial %s: %w", a.Addr, ErrRefused)
		}
		n.streams[p] = struct{}{}
		dst.heldSt = append(dst.heldSt, server)
		return client, nil
	}
	n.streams[p] = struct{}{}
	if !n.acceptLocked(dst, server) {
		self.stats.StreamDialsFailed++
		return nil, fmt.Errorf("dial %s: %w", a.Addr, ErrRefused)
	}
	return client, nil
}

func (t *Transport) dialFailed(addr string, err error) error {
	t.nw.mu.Lock()
	t.n.stats.StreamDialsFailed++
	t.nw.mu.Unlock()
	return fmt.Errorf("dial %s: %w", addr, err)
}

// sleep waits d or until the transport shuts down (ErrShutdown).
func (t *Transport) sleep(d time.Duration) error {
	if d <= 0 {
		select {
		case <-t.done:
			return ErrShutdown
		default:
			return nil
		}
	}
	tm := time.NewTimer(d)
	defer tm.Stop()
	select {
	case <-tm.C:
		return nil
	case <-t.done:
		return ErrShutdown
	}
}

// acceptLocked hands server to dst's backlog without blocking; on a full
// backlog it breaks the stream and returns false. Caller holds mu.
func (n *Network) acceptLocked(dst *node, server *conn) bool {
	select {
	case dst.t.streamCh <- server:
		dst.stats.StreamsAccepted++
		return true
	default:
		n.breakStreamsLocked(func(p *pair) bool { return p == server.p })
		return false
	}
}

// pair is one open stream, tracked so faults can break it.
type pair struct {
	a, b *node // dialer, listener
	ends [2]*conn
}

// breakStreamsLocked closes both ends of every tracked stream matching f.
// Closing a net.Pipe end never blocks. Caller holds mu.
func (n *Network) breakStreamsLocked(f func(*pair) bool) {
	for p := range n.streams {
		if f(p) {
			delete(n.streams, p)
			p.ends[0].Conn.Close()
			p.ends[1].Conn.Close()
		}
	}
}

// conn is one end of a stream: a net.Pipe end reporting TCP addresses and
// counting bytes. net.Pipe blocks only on channels and deadline timers, so it
// is durable under testing/synctest.
type conn struct {
	net.Conn
	nw   *Network
	p    *pair
	self *node
	peer *node
}

func (c *conn) LocalAddr() net.Addr  { return c.self.tcp }
func (c *conn) RemoteAddr() net.Addr { return c.peer.tcp }

// Write passes b to the other end, after the link's stream delay and
// losses, and, if the reader is slow (SetSlow), after it handled what it had
// queued and this write; a reset drawn for the write breaks the stream and
// fails it.
func (c *conn) Write(b []byte) (int, error) {
	n := c.nw
	n.mu.Lock()
	delay, reset := n.linkLocked(c.self.addr, c.peer.addr).streamWrite(n.rng)
	if peer := c.peer; peer.slow > 0 {
		// The slow reader handles it after what it has queued already.
		now := time.Now()
		peer.busy = later(peer.busy, now).Add(peer.slow)
		delay += peer.busy.Sub(now)
	}
	if reset {
		c.self.stats.StreamResets++
		n.breakStreamsLocked(func(p *pair) bool { return p == c.p })
	}
	n.mu.Unlock()
	if reset {
		return 0, fmt.Errorf("simnet: write to %s: %w", c.peer.addr, ErrReset)
	}
	if delay > 0 {
		time.Sleep(delay) // a timer: durable under testing/synctest
	}
	k, err := c.Conn.Write(b)
	if k > 0 {
		c.nw.mu.Lock()
		c.self.stats.StreamBytesSent += uint64(k)
		c.peer.stats.StreamBytesReceived += uint64(k)
		c.nw.mu.Unlock()
	}
	return k, err
}

// Close closes this end; the other end then reads io.EOF.
func (c *conn) Close() error {
	c.nw.mu.Lock()
	delete(c.nw.streams, c.p)
	c.nw.mu.Unlock()
	return c.Conn.Close()
}
