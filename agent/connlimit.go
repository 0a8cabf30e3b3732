package agent

import (
	"errors"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"sync"
	"time"

	"github.com/grapevine-sd/grapevine/internal/clientkey"
)

// connLimiter wraps a listener so that at most max connections are open at
// once, and at most perClient from one client (clientKey: an address, an
// IPv6 /64, or all of loopback). A connection over
// a cap is answered "429 Too Many Requests" (plain HTTP only; a TLS listener
// just closes it) and closed at once, and counted.
type connLimiter struct {
	net.Listener
	max, perClient int
	plain          bool // write an HTTP answer before closing a refused conn
	onReject       func(reason string)
	onOpen         func(delta int)
	key            func(net.Addr) netip.Prefix // clientKey

	mu     sync.Mutex // guards total, byAddr
	total  int
	byAddr map[netip.Prefix]int // by clientkey.Of
}

func newConnLimiter(ln net.Listener, max, perClient int, plain bool, onReject func(string), onOpen func(int)) *connLimiter {
	return &connLimiter{Listener: ln, max: max, perClient: perClient, plain: plain, onReject: onReject, onOpen: onOpen, byAddr: map[netip.Prefix]int{}, key: clientKey}
}

// Answers to refused connections.
var (
	tooManyConns      = rawJSONAnswer("429 Too Many Requests", "too many connections from this client")
	tooManyConnsTotal = rawJSONAnswer("503 Service Unavailable", "too many connections to this agent")
)

// rawJSONAnswer is an answer's status line, and its fields and body after
// a Date field (added when it is sent: refusedAnswer).
func rawJSONAnswer(status, msg string) [2]string {
	body := `{"error":"` + msg + `"}` + "\n"
	return [2]string{"HTTP/1.1 " + status + "\r\nDate: ", "\r\nContent-Type: application/json\r\nConnection: close\r\nContent-Length: " +
		strconv.Itoa(len(body)) + "\r\n\r\n" + body}
}

// refusedAnswer is a with the Date field of now (RFC 9110 section 6.6.1).
func refusedAnswer(a [2]string, now time.Time) []byte {
	b := make([]byte, 0, len(a[0])+len(http.TimeFormat)+len(a[1]))
	b = append(b, a[0]...)
	b = now.UTC().AppendFormat(b, http.TimeFormat)
	return append(b, a[1]...)
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
			_, _ = c.Write(refusedAnswer(msg, time.Now()))
		}
		_ = c.Close()
	}
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
