package agent_test

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/grapevine-sd/grapevine/agent"
)

// dialFrom opens a TCP connection to addr from the local address src (any
// 127.x address is the host's without configuration), closed at the end.
func dialFrom(t *testing.T, src, addr string) net.Conn {
	t.Helper()
	d := net.Dialer{Timeout: 5 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// Every loopback source address is one client for max_conns_per_client: a
// local process spreading its connections over 127.0.0.2, 127.0.0.3, ...
// gets no more than one using 127.0.0.1 (it would otherwise take every slot
// of max_conns and lock the other local clients out).
func TestConnectionCapLoopbackIsOneClient(t *testing.T) {
	a, _, _ := single(t, func(c *agent.Config) {
		c.HTTPConfig.MaxConnsPerClient = 3
		c.HTTPConfig.MaxConns = 50
	})
	for i := range 3 {
		dialFrom(t, fmt.Sprintf("127.0.0.%d", 2+i), a.HTTPAddr()) // open, idle
	}
	c := dialFrom(t, "127.77.0.9", a.HTTPAddr())
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("4th loopback connection: no answer: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusTooManyRequests {
		t.Errorf("4th connection from another 127.x address: got %d, want 429", resp.StatusCode)
	}
}

// A refused client that sends its request (and more) gets the 429, not a
// reset: the agent drops what the client sends for a moment before it
// closes (closing a socket with unread bytes resets the connection, which
// can reach the client before the answer).
func TestRefusedConnectionReadsTheAnswer(t *testing.T) {
	a, _, _ := single(t, func(c *agent.Config) {
		c.HTTPConfig.MaxConnsPerClient = 1
		c.HTTPConfig.MaxConns = 50
	})
	dialFrom(t, "127.0.0.1", a.HTTPAddr()) // takes the one slot
	for i := range 5 {
		c := dialFrom(t, "127.0.0.1", a.HTTPAddr())
		_ = c.SetDeadline(time.Now().Add(15 * time.Second))
		body := make([]byte, 16<<10)
		if _, err := fmt.Fprintf(c, "PUT /v1/agent/services HTTP/1.1\r\nHost: %s\r\nContent-Length: %d\r\n\r\n", a.HTTPAddr(), 2*len(body)); err != nil {
			t.Fatal(err)
		}
		br := bufio.NewReader(c)
		if _, err := br.Peek(1); err != nil {
			t.Fatalf("round %d: no answer: %v", i, err)
		}
		time.Sleep(30 * time.Millisecond) // the agent is done with it by now
		for j := range 2 {
			if _, err := c.Write(body); err != nil {
				t.Fatalf("round %d: writing the body (%d) after the answer: %v", i, j, err)
			}
		}
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("round %d: reading the answer: %v", i, err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusTooManyRequests {
			t.Fatalf("round %d: %d, want 429", i, resp.StatusCode)
		}
	}
}
