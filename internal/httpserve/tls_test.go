package httpserve_test

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/grapevine-sd/grapevine/internal/testcert"
)

// Over TLS, a request whose handler waits on its context (the background
// read, stopped by a deadline in the past) leaves the connection usable:
// the next requests on it, pipelined during the wait or sent after, are
// served.
func TestTLSConnectionAfterAWatchedRequest(t *testing.T) {
	cert := testcert.SelfSigned(t, "httpserve-test")
	waiting := make(chan struct{}, 1)
	_, addr := serveOn(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/wait" {
			done := r.Context().Done() // starts the background read
			waiting <- struct{}{}
			select {
			case <-done:
				return
			case <-time.After(100 * time.Millisecond):
			}
		}
		hello(w, r)
	}, nil, func(ln net.Listener) net.Listener {
		return tls.NewListener(ln, &tls.Config{Certificates: []tls.Certificate{cert}})
	})

	c, err := tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(20 * time.Second))
	br := bufio.NewReader(c)
	for round := range 3 {
		fmt.Fprint(c, "GET /wait HTTP/1.1\r\nHost: x\r\n\r\n")
		<-waiting
		if round == 1 {
			fmt.Fprint(c, "GET /piped HTTP/1.1\r\nHost: x\r\n\r\n") // while it waits
		}
		if _, body := answer(t, br, "GET"); body != "hello /wait" {
			t.Fatalf("round %d: %q", round, body)
		}
		if round == 1 {
			if _, body := answer(t, br, "GET"); body != "hello /piped" {
				t.Fatalf("pipelined during the wait: %q", body)
			}
		}
		fmt.Fprint(c, "GET /after HTTP/1.1\r\nHost: x\r\n\r\n")
		if _, body := answer(t, br, "GET"); body != "hello /after" {
			t.Fatalf("round %d, after the watched request: %q", round, body)
		}
	}
}
