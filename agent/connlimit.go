package agent

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"sync"
	"time"

	"github.com/grapevine-sd/grapevine/internal/clientkey"
	"github.com/grapevine-sd/grapevine/internal/httpserve"
)

// connLimiter wraps a listener so that at most max connections are open at
// once, and at most perClient from one client (clientKey: an address, an
// IPv6 /64, or all of loopback). A connection over
// a cap is answered "429 Too Many Requests" (plain HTTP only; a TLS listener
// just closes it), closed (see linger), and counted.
type connLimiter struct {
	net.Listener
	max, perClient int
	plain          bool // write an HTTP answer before closing a refused conn
	onReject       func(reason string)
	onOpen         func(delta int)
	key            func(net.Addr) netip.Prefix // clientKey

	mu     sync.Mutex // guards total, byAddr, closed, lingering, lingerWG.Add
	closed bool
	total  int
	byAddr map[netip.Prefix]int // by clientkey.Of

	lingering int            // refused connections draining before their close
	lingerWG  sync.WaitGroup // their goroutines; Close waits for them
}

// A refused connection is closed only after its client has had a moment to
// read the answer: closing a socket with the client's request unread makes
// the kernel send a reset, which can reach the client before the answer.
// At most maxLingering refused connections drain at once, each for at most
// refusedLinger and refusedLingerBytes; past that they close at once (a
// flood must not cost a goroutine per connection).
const (
	maxLingering       = 64
	refusedLinger      = 250 * time.Millisecond
	refusedLingerBytes = 64 << 10
)

func newConnLimiter(ln net.Listener, max, perClient int, plain bool, onReject func(string), onOpen func(int)) *connLimiter {
	return &connLimiter{Listener: ln, max: max, perClient: perClient, plain: plain, onReject: onReject, onOpen: onOpen, byAddr: map[netip.Prefix]int{}, key: clientKey}
}

// Answers to refused connections: status line, then message.
var (
	tooManyConns      = [2]string{"429 Too Many Requests", "too many connections from this client"}
	tooManyConnsTotal = [2]string{"503 Service Unavailable", "too many connections to this agent"}
)

// refusedAnswer is the whole answer a (status, message) sent at now, with
// its Date field (RFC 9110 section 6.6.1) and a JSON error body.
func refusedAnswer(a [2]string, now time.Time) []byte {
	body := `{"error":"` + a[1] + `"}` + "\n"
	return fmt.Appendf(nil, "HTTP/1.1 %s\r\nDate: %s\r\nContent-Type: application/json\r\nConnection: close\r\nContent-Length: %d\r\n\r\n%s",
		a[0], now.UTC().Format(http.TimeFormat), len(body), body)
}

// Accept returns the next connection within the caps; refused ones are
// answered and closed here and never reach the server.
func (l *connLimiter) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		key := l.key(c.RemoteAddr())
		l.mu.Lock()
		reason := ""
		switch {
		case l.total >= l.max:
			reason = "conn_total"
		case l.byAddr[key] >= l.perClient:
			reason = "conn_per_client"
		default:
			l.total++
			l.byAddr[key]++
		}
		l.mu.Unlock()
		if reason == "" {
			l.onOpen(1)
			return &limitedConn{Conn: c, l: l, key: key}, nil
		}
		l.onReject(reason)
		if l.plain {
			msg := tooManyConns
			if reason == "conn_total" {
				msg = tooManyConnsTotal
			}
			// A fresh socket's send buffer takes these bytes at once; the
			// deadline only guards against the impossible.
			_ = c.SetWriteDeadline(time.Now().Add(50 * time.Millisecond))
			if _, err := c.Write(refusedAnswer(msg, time.Now())); err == nil && l.linger(c) {
				continue
			}
		}
		_ = c.Close()
	}
}

// linger closes c's sending side and, in a goroutine of its own, drops what
// the client still sends before closing c; false: too many linger already,
// the caller closes c.
func (l *connLimiter) linger(c net.Conn) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed || l.lingering >= maxLingering {
		return false
	}
	l.lingering++
	l.lingerWG.Add(1)
	go func() {
		defer l.lingerWG.Done()
		defer func() {
			l.mu.Lock()
			l.lingering--
			l.mu.Unlock()
		}()
		httpserve.Drain(c, c, refusedLinger, refusedLingerBytes)
		_ = c.Close()
	}()
	return true
}

// Close closes the listener and waits for the refused connections still
// draining (at most refusedLinger).
func (l *connLimiter) Close() error {
	err := l.Listener.Close()
	l.mu.Lock()
	l.closed = true
	l.mu.Unlock()
	l.lingerWG.Wait()
	return err
}

func (l *connLimiter) release(key netip.Prefix) {
	l.mu.Lock()
	l.total--
	if l.byAddr[key]--; l.byAddr[key] <= 0 {
		delete(l.byAddr, key)
	}
	l.mu.Unlock()
	l.onOpen(-1)
}

// clientKey is the client a connection counts against: its address, its /64
// for IPv6, and one client for every loopback address (see clientkey).
func clientKey(a net.Addr) netip.Prefix {
	var ip netip.Addr
	if ta, ok := a.(*net.TCPAddr); ok {
		ip = ta.AddrPort().Addr()
	} else if ap, err := netip.ParseAddrPort(a.String()); err == nil {
		ip = ap.Addr()
	}
	return clientkey.Of(ip)
}

// limitedConn gives its slot back when closed (once).
type limitedConn struct {
	net.Conn
	l    *connLimiter
	key  netip.Prefix
	once sync.Once
}

// CloseWrite ends the sending side where the connection has one (TCP), so a
// client refused with an answer reads it before the connection closes.
func (c *limitedConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

func (c *limitedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() { c.l.release(c.key) })
	if errors.Is(err, net.ErrClosed) {
		return nil
	}
	return err
}
