package agent

import (
	"errors"
	"net"
	"strconv"
	"sync"
	"time"
)

// connLimiter wraps a listener so that at most max connections are open at
// once, and at most perClient from one client IP address. A connection over
// a cap is answered "429 Too Many Requests" (plain HTTP only; a TLS listener
// just closes it) and closed at once, and counted.
type connLimiter struct {
	net.Listener
	max, perClient int
	plain          bool // write an HTTP answer before closing a refused conn
	onReject       func(reason string)
	onOpen         func(delta int)

	mu     sync.Mutex // guards total, byAddr
	total  int
	byAddr map[string]int
}

func newConnLimiter(ln net.Listener, max, perClient int, plain bool, onReject func(string), onOpen func(int)) *connLimiter {
	return &connLimiter{Listener: ln, max: max, perClient: perClient, plain: plain, onReject: onReject, onOpen: onOpen, byAddr: map[string]int{}}
}

// Answers to refused connections.
var (
	tooManyConns      = rawJSONAnswer("429 Too Many Requests", "too many connections from this client")
	tooManyConnsTotal = rawJSONAnswer("503 Service Unavailable", "too many connections to this agent")
)

func rawJSONAnswer(status, msg string) string {
	body := `{"error":"` + msg + `"}` + "\n"
	return "HTTP/1.1 " + status + "\r\nContent-Type: application/json\r\nConnection: close\r\nContent-Length: " +
		strconv.Itoa(len(body)) + "\r\n\r\n" + body
}

// Accept returns the next connection within the caps; refused ones are
// answered and closed here and never reach the server.
func (l *connLimiter) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		key := clientKey(c.RemoteAddr())
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
			_, _ = c.Write([]byte(msg))
		}
		_ = c.Close()
	}
}

func (l *connLimiter) release(key string) {
	l.mu.Lock()
	l.total--
	if l.byAddr[key]--; l.byAddr[key] <= 0 {
		delete(l.byAddr, key)
	}
	l.mu.Unlock()
	l.onOpen(-1)
}

// clientKey is the client's IP address (ports differ per connection); for
// IPv6 its /64, which one host usually holds whole.
func clientKey(a net.Addr) string {
	if ta, ok := a.(*net.TCPAddr); ok {
		if ta.IP.To4() == nil && len(ta.IP) == net.IPv6len {
			return ta.IP.Mask(net.CIDRMask(64, 128)).String() + "/64"
		}
		return ta.IP.String()
	}
	host, _, err := net.SplitHostPort(a.String())
	if err != nil {
		return a.String()
	}
	return host
}

// limitedConn gives its slot back when closed (once).
type limitedConn struct {
	net.Conn
	l    *connLimiter
	key  string
	once sync.Once
}

func (c *limitedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() { c.l.release(c.key) })
	if errors.Is(err, net.ErrClosed) {
		return nil
	}
	return err
}
