package httpserve_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/grapevine-sd/grapevine/internal/httpserve"
	"github.com/grapevine-sd/grapevine/internal/leaktest"
)

// serve starts a Server for h on a loopback port; tweak adjusts its config.
// The test ends with the server closed and its goroutines gone.
func serve(t *testing.T, h http.HandlerFunc, tweak func(*httpserve.Config)) (*httpserve.Server, string) {
	t.Helper()
	return serveOn(t, h, tweak, nil)
}

// serveOn is serve on the listener wrap makes of the loopback one (TLS);
// nil: the loopback one.
func serveOn(t *testing.T, h http.HandlerFunc, tweak func(*httpserve.Config), wrap func(net.Listener) net.Listener) (*httpserve.Server, string) {
	t.Helper()
	snap := leaktest.Take()
	cfg := httpserve.DefaultConfig()
	cfg.Handler = h
	cfg.MaxHeaderBytes = 8 << 10
	if tweak != nil {
		tweak(&cfg)
	}
	s, err := httpserve.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	if wrap != nil {
		ln = wrap(ln)
	}
	done := make(chan error, 1)
	go func() { done <- s.Serve(ln) }()
	t.Cleanup(func() {
		_ = s.Close()
		if err := <-done; !errors.Is(err, httpserve.ErrServerClosed) {
			t.Errorf("Serve: %v, want ErrServerClosed", err)
		}
		if err := snap.Wait(10 * time.Second); err != nil {
			t.Error(err)
		}
	})
	return s, addr
}

func dial(t *testing.T, addr string) (net.Conn, *bufio.Reader) {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	_ = c.SetDeadline(time.Now().Add(20 * time.Second))
	return c, bufio.NewReader(c)
}

// answer reads one answer and its body.
func answer(t *testing.T, br *bufio.Reader, method string) (*http.Response, string) {
	t.Helper()
	resp, err := http.ReadResponse(br, &http.Request{Method: method})
	if err != nil {
		t.Fatalf("reading an answer: %v", err)
	}
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("reading the body: %v", err)
	}
	return resp, string(b)
}

// closed reports whether the server closed the connection: reading what
// is left ends (in EOF or a reset) before a timeout.
func closed(c net.Conn, br *bufio.Reader) bool {
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, err := io.Copy(io.Discard, br)
	return !isTimeout(err)
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

func hello(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain")
	fmt.Fprintf(w, "hello %s", r.URL.Path)
}

func TestKeepAliveAndPipelining(t *testing.T) {
	_, addr := serve(t, hello, nil)
	c, br := dial(t, addr)
	for i := range 3 {
		fmt.Fprintf(c, "GET /k%d HTTP/1.1\r\nHost: x\r\n\r\n", i)
		resp, body := answer(t, br, "GET")
		if resp.StatusCode != 200 || body != fmt.Sprintf("hello /k%d", i) || resp.ContentLength != int64(len(body)) || resp.Close {
			t.Fatalf("request %d: %d %q length %d close %v", i, resp.StatusCode, body, resp.ContentLength, resp.Close)
		}
		if resp.Header.Get("Date") == "" {
			t.Error("no Date field (RFC 9110 section 6.6.1)")
		}
	}
	// Pipelined: all written at once, answered in order.
	fmt.Fprint(c, "GET /p1 HTTP/1.1\r\nHost: x\r\n\r\nGET /p2 HTTP/1.1\r\nHost: x\r\n\r\nGET /p3 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
	for i := 1; i <= 3; i++ {
		if _, body := answer(t, br, "GET"); body != fmt.Sprintf("hello /p%d", i) {
			t.Fatalf("pipelined answer %d: %q", i, body)
		}
	}
	if !closed(c, br) {
		t.Error("Connection: close did not close the connection")
	}
}

func TestHTTP10(t *testing.T) {
	_, addr := serve(t, hello, nil)
	c, br := dial(t, addr)
	fmt.Fprint(c, "GET /a HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
	resp, body := answer(t, br, "GET")
	if body != "hello /a" || resp.Header.Get("Connection") != "keep-alive" {
		t.Fatalf("HTTP/1.0 keep-alive: %q, Connection %q", body, resp.Header.Get("Connection"))
	}
	fmt.Fprint(c, "GET /b HTTP/1.0\r\n\r\n")
	if _, body := answer(t, br, "GET"); body != "hello /b" {
		t.Fatalf("HTTP/1.0: %q", body)
	}
	if !closed(c, br) {
		t.Error("HTTP/1.0 without keep-alive: connection not closed")
	}
}

func TestHEADAndBodiless(t *testing.T) {
	_, addr := serve(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/204":
			w.WriteHeader(http.StatusNoContent)
			if _, err := w.Write([]byte("x")); !errors.Is(err, http.ErrBodyNotAllowed) {
				panic(fmt.Sprintf("Write after 204: %v", err))
			}
		default:
			hello(w, r)
		}
	}, nil)
	c, br := dial(t, addr)
	fmt.Fprint(c, "HEAD /h HTTP/1.1\r\nHost: x\r\n\r\nGET /204 HTTP/1.1\r\nHost: x\r\n\r\nGET /after HTTP/1.1\r\nHost: x\r\n\r\n")
	resp, body := answer(t, br, "HEAD")
	if body != "" || resp.ContentLength != int64(len("hello /h")) {
		t.Errorf("HEAD: body %q, Content-Length %d, want none and %d", body, resp.ContentLength, len("hello /h"))
	}
	resp, body = answer(t, br, "GET")
	if resp.StatusCode != 204 || body != "" || resp.Header.Get("Content-Length") != "" {
		t.Errorf("204: %d %q Content-Length %q", resp.StatusCode, body, resp.Header.Get("Content-Length"))
	}
	if _, body = answer(t, br, "GET"); body != "hello /after" {
		t.Errorf("after HEAD and 204: %q", body)
	}
}

func TestStreamingIsChunked(t *testing.T) {
	big := strings.Repeat("y", 100<<10)
	_, addr := serve(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/flush":
			for i := range 3 {
				fmt.Fprintf(w, "event %d\n", i)
				w.(http.Flusher).Flush()
			}
		case "/big":
			_, _ = io.WriteString(w, big)
		case "/declared":
			w.Header().Set("Content-Length", "5")
			_, _ = io.WriteString(w, "abc")
		}
	}, nil)
	c, br := dial(t, addr)
	fmt.Fprint(c, "GET /flush HTTP/1.1\r\nHost: x\r\n\r\n")
	resp, body := answer(t, br, "GET")
	if len(resp.TransferEncoding) != 1 || body != "event 0\nevent 1\nevent 2\n" {
		t.Errorf("flushed answer: TE %v, %q", resp.TransferEncoding, body)
	}
	fmt.Fprint(c, "GET /big HTTP/1.1\r\nHost: x\r\n\r\n")
	if _, body = answer(t, br, "GET"); body != big {
		t.Errorf("big answer: %d bytes, want %d", len(body), len(big))
	}
	// Declared 5, wrote 3: the framing is broken, so the connection ends.
	fmt.Fprint(c, "GET /declared HTTP/1.1\r\nHost: x\r\n\r\n")
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := io.ReadAll(resp.Body); string(b) != "abc" {
		t.Errorf("short declared body: %q", b)
	}
	if !closed(c, br) {
		t.Error("connection kept after an answer shorter than its Content-Length")
	}

	// HTTP/1.0 cannot take chunks: the end of the connection ends the body.
	c, br = dial(t, addr)
	fmt.Fprint(c, "GET /flush HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
	resp, body = answer(t, br, "GET")
	if len(resp.TransferEncoding) != 0 || !resp.Close || body != "event 0\nevent 1\nevent 2\n" {
		t.Errorf("HTTP/1.0 stream: TE %v close %v %q", resp.TransferEncoding, resp.Close, body)
	}
}

func TestRequestBodies(t *testing.T) {
	_, addr := serve(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/ignore" {
			return // leaves the body unread: the server drops it
		}
		b, err := io.ReadAll(r.Body)
		if err != nil {
			w.WriteHeader(400)
			return
		}
		fmt.Fprintf(w, "got %q", b)
	}, nil)
	c, br := dial(t, addr)
	fmt.Fprint(c, "PUT /x HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello")
	if _, body := answer(t, br, "PUT"); body != `got "hello"` {
		t.Errorf("Content-Length body: %s", body)
	}
	fmt.Fprint(c, "PUT /x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n")
	if _, body := answer(t, br, "PUT"); body != `got "abcde"` {
		t.Errorf("chunked body: %s", body)
	}
	fmt.Fprint(c, "PUT /ignore HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nxyzGET /after HTTP/1.1\r\nHost: x\r\n\r\n")
	if resp, _ := answer(t, br, "PUT"); resp.StatusCode != 200 || resp.Close {
		t.Errorf("unread body: %d close %v", resp.StatusCode, resp.Close)
	}
	if _, body := answer(t, br, "GET"); body != `got ""` {
		t.Errorf("the request after an unread body: %s", body)
	}

	// Expect: 100-continue: the interim answer comes when the body is read.
	c, br = dial(t, addr)
	fmt.Fprint(c, "PUT /x HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nExpect: 100-continue\r\n\r\n")
	line, err := br.ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "HTTP/1.1 100 ") {
		t.Fatalf("Expect: 100-continue: %q %v", line, err)
	}
	if blank, _ := br.ReadString('\n'); blank != "\r\n" {
		t.Fatalf("after 100 Continue: %q", blank)
	}
	fmt.Fprint(c, "ok")
	if _, body := answer(t, br, "PUT"); body != `got "ok"` {
		t.Errorf("body after 100 Continue: %s", body)
	}
	// A handler that answers without reading: no 100, and the connection
	// closes (the client may still send the body, or not).
	fmt.Fprint(c, "PUT /ignore HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nExpect: 100-continue\r\n\r\n")
	if resp, _ := answer(t, br, "PUT"); resp.StatusCode != 200 || !resp.Close {
		t.Errorf("unread body after Expect: %d close %v, want 200 and close", resp.StatusCode, resp.Close)
	}
}

// Requests the server refuses before a handler sees them: the status
// net/http's server gives, and the connection closed.
func TestRefused(t *testing.T) {
	var calls atomic.Int32
	_, addr := serve(t, func(w http.ResponseWriter, r *http.Request) { calls.Add(1) }, nil)
	cases := []struct {
		name, req string
		code      int
	}{
		{"no Host in HTTP/1.1", "GET / HTTP/1.1\r\n\r\n", 400},
		{"two Host fields", "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400},
		{"bad Host", "GET / HTTP/1.1\r\nHost: a b\r\n\r\n", 400},
		{"space before colon", "GET / HTTP/1.1\r\nHost: a\r\nX-A : b\r\n\r\n", 400},
		{"NUL in a value", "GET / HTTP/1.1\r\nHost: a\r\nX-A: b\x00c\r\n\r\n", 400},
		{"unknown transfer coding", "PUT / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n", 501},
		{"two Content-Lengths", "PUT / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab", 400},
		{"bad chunk size", "PUT / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 0},
		{"HTTP/2", "GET / HTTP/2.0\r\nHost: a\r\n\r\n", 505},
		{"HTTP/2 preface", "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 505},
		{"garbage", "\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03\r\n\r\n", 400},
		{"header over the limit", "GET / HTTP/1.1\r\nHost: a\r\nX-A: " + strings.Repeat("a", 16<<10) + "\r\n\r\n", 431},
		{"request line over the limit", "GET /" + strings.Repeat("a", 16<<10) + " HTTP/1.1\r\nHost: a\r\n\r\n", 431},
		{"Content-Length and Transfer-Encoding (CL.TE)", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nG", 400},
		{"Transfer-Encoding and Content-Length (TE.CL)", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-length: 3\r\n\r\n8\r\nSMUGGLED\r\n0\r\n\r\n", 400},
		{"Transfer-Encoding in HTTP/1.0", "POST / HTTP/1.0\r\nConnection: keep-alive\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n", 400},
		{"Transfer-Encoding alone in HTTP/1.0", "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400},
		{"bare LF", "GET / HTTP/1.1\nHost: a\n\n", 400},
		{"bare LF inside CRLF", "GET / HTTP/1.1\r\nHost: a\nX-A: b\r\n\r\n", 400},
		{"folded field", "GET / HTTP/1.1\r\nHost: a\r\nX-A: b\r\n c\r\n\r\n", 400},
		{"Expect other than 100-continue", "GET / HTTP/1.1\r\nHost: a\r\nExpect: magic\r\n\r\n", 417},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := calls.Load()
			c, br := dial(t, addr)
			fmt.Fprint(c, tc.req)
			if tc.code != 0 {
				resp, err := http.ReadResponse(br, nil)
				if err != nil {
					t.Fatalf("no answer: %v", err)
				}
				resp.Body.Close()
				if resp.StatusCode != tc.code {
					t.Errorf("status %d, want %d", resp.StatusCode, tc.code)
				}
			}
			if !closed(c, br) {
				t.Error("connection not closed")
			}
			// A bad chunk reaches the handler (the body read fails there);
			// nothing else does.
			if got := calls.Load() - before; got != 0 && tc.code != 0 {
				t.Errorf("handler ran %d times", got)
			}
		})
	}
}

// A field value cannot add fields to the answer.
func TestHeaderValueInjection(t *testing.T) {
	_, addr := serve(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Echo", "a\r\nSet-Cookie: evil=1")
		w.Header()["Bad Name"] = []string{"x"}
	}, nil)
	c, br := dial(t, addr)
	fmt.Fprint(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	resp, _ := answer(t, br, "GET")
	if resp.Header.Get("Set-Cookie") != "" || resp.Header.Get("X-Echo") != "a  Set-Cookie: evil=1" {
		t.Errorf("injected: %v", resp.Header)
	}
	if _, ok := resp.Header["Bad Name"]; ok {
		t.Error("a field name with a space went out")
	}
}

// The header as it was at WriteHeader goes out; later changes do not.
func TestHeaderSnapshotAtWriteHeader(t *testing.T) {
	_, addr := serve(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-A", "1")
		w.WriteHeader(201)
		w.Header().Set("X-A", "2")
		w.Header().Set("X-B", "late")
		_, _ = io.WriteString(w, "body")
	}, nil)
	c, br := dial(t, addr)
	fmt.Fprint(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	resp, body := answer(t, br, "GET")
	if resp.StatusCode != 201 || resp.Header.Get("X-A") != "1" || resp.Header.Get("X-B") != "" || body != "body" {
		t.Errorf("got %d %v %q", resp.StatusCode, resp.Header, body)
	}
}

func TestPanicCostsOnlyTheConnection(t *testing.T) {
	_, addr := serve(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/panic" {
			panic("boom")
		}
		hello(w, r)
	}, nil)
	c, br := dial(t, addr)
	fmt.Fprint(c, "GET /panic HTTP/1.1\r\nHost: x\r\n\r\n")
	if resp, _ := answer(t, br, "GET"); resp.StatusCode != 500 || !resp.Close {
		t.Errorf("after a panic: %d close %v, want 500 and close", resp.StatusCode, resp.Close)
	}
	c, br = dial(t, addr)
	fmt.Fprint(c, "GET /ok HTTP/1.1\r\nHost: x\r\n\r\n")
	if _, body := answer(t, br, "GET"); body != "hello /ok" {
		t.Errorf("the server after a panic: %q", body)
	}
}

// A handler waiting on its context learns that the client went away; a
// pipelined request is not taken for that, and is served after.
func TestContextEndsWithTheClient(t *testing.T) {
	ended := make(chan error, 1)
	waiting := make(chan struct{}, 1)
	_, addr := serve(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/wait" {
			hello(w, r)
			return
		}
		// /wait: 300 ms; /wait?long: a minute, longer than the test.
		d := 300 * time.Millisecond
		if r.URL.RawQuery == "long" {
			d = time.Minute
		}
		done := r.Context().Done()
		waiting <- struct{}{}
		select {
		case <-done:
			ended <- r.Context().Err()
		case <-time.After(d):
			_, _ = io.WriteString(w, "waited")
		}
	}, nil)
	c, br := dial(t, addr)
	fmt.Fprint(c, "GET /wait HTTP/1.1\r\nHost: x\r\n\r\n")
	<-waiting
	fmt.Fprint(c, "GET /next HTTP/1.1\r\nHost: x\r\n\r\n") // pipelined while the first waits
	if _, body := answer(t, br, "GET"); body != "waited" {
		t.Fatalf("first: %q", body)
	}
	if _, body := answer(t, br, "GET"); body != "hello /next" {
		t.Fatalf("pipelined after a watched request: %q", body)
	}
	select {
	case err := <-ended:
		t.Fatalf("context ended (%v) though the client stayed", err)
	default:
	}

	// A client that goes away is noticed, also with a request pipelined
	// behind the waiting one (sent with it, or while it waits).
	const wait = "GET /wait?long HTTP/1.1\r\nHost: x\r\n\r\n"
	for _, tc := range []struct{ name, first, later string }{
		{"alone", wait, ""},
		{"pipelined with it", wait + "GET /next HTTP/1.1\r\nHost: x\r\n\r\n", ""},
		{"pipelined while it waits", wait, "GET /next HTTP/1.1\r\nHost: x\r\n\r\n"},
	} {
		c, _ = dial(t, addr)
		fmt.Fprint(c, tc.first)
		<-waiting
		fmt.Fprint(c, tc.later)
		c.Close()
		select {
		case err := <-ended:
			if !errors.Is(err, context.Canceled) {
				t.Errorf("%s: context error %v, want Canceled", tc.name, err)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("%s: the context did not end when the client closed", tc.name)
		}
	}
}

func TestTimeouts(t *testing.T) {
	_, addr := serve(t, hello, func(c *httpserve.Config) {
		c.HeaderTimeout = 200 * time.Millisecond
		c.IdleTimeout = 300 * time.Millisecond
	})
	// A header dribbled slower than the header timeout is cut.
	c, br := dial(t, addr)
	start := time.Now()
	fmt.Fprint(c, "GET / HTTP/1.1\r\n")
	for i := 0; i < 20 && time.Since(start) < 2*time.Second; i++ {
		if _, err := fmt.Fprintf(c, "X-%d: y\r\n", i); err != nil {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if !closed(c, br) {
		t.Error("slow header not cut")
	}
	// An idle kept-alive connection is closed after the idle timeout, and
	// not before one request's header timeout passes.
	c, br = dial(t, addr)
	fmt.Fprint(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	answer(t, br, "GET")
	time.Sleep(250 * time.Millisecond) // past the header timeout, within the idle one
	fmt.Fprint(c, "GET /again HTTP/1.1\r\nHost: x\r\n\r\n")
	if _, body := answer(t, br, "GET"); body != "hello /again" {
		t.Fatalf("after 250 ms idle: %q", body)
	}
	idle := time.Now()
	if !closed(c, br) {
		t.Error("idle connection not closed")
	} else if el := time.Since(idle); el < 250*time.Millisecond {
		t.Errorf("idle connection closed after %v, want about 300ms", el)
	}
}

// A client that does not read its answer holds the connection only until
// the write timeout.
func TestWriteTimeout(t *testing.T) {
	big := strings.Repeat("z", 1<<20)
	finished := make(chan error, 1)
	_, addr := serve(t, func(w http.ResponseWriter, r *http.Request) {
		var err error
		for range 64 {
			if _, err = io.WriteString(w, big); err != nil {
				break
			}
		}
		finished <- err
	}, func(c *httpserve.Config) { c.WriteTimeout = 300 * time.Millisecond })
	c, _ := dial(t, addr)
	fmt.Fprint(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	select {
	case err := <-finished:
		if err == nil {
			t.Error("64 MiB written to a client that reads nothing")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the handler is still writing to a client that reads nothing")
	}
}

// Shutdown closes idle connections at once, lets a request in progress
// finish (its connection then closes), and refuses new connections.
func TestShutdown(t *testing.T) {
	release := make(chan struct{})
	started := make(chan struct{}, 1)
	s, addr := serve(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			started <- struct{}{}
			<-release
		}
		hello(w, r)
	}, nil)
	idle, ibr := dial(t, addr)
	fmt.Fprint(idle, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	answer(t, ibr, "GET")
	busy, bbr := dial(t, addr)
	fmt.Fprint(busy, "GET /slow HTTP/1.1\r\nHost: x\r\n\r\n")
	<-started

	done := make(chan error, 1)
	go func() { done <- s.Shutdown(context.Background()) }()
	if !closed(idle, ibr) {
		t.Error("idle connection not closed by Shutdown")
	}
	select {
	case err := <-done:
		t.Fatalf("Shutdown returned (%v) while a request is served", err)
	case <-time.After(100 * time.Millisecond):
	}
	close(release)
	resp, body := answer(t, bbr, "GET")
	if body != "hello /slow" || !resp.Close {
		t.Errorf("request across Shutdown: %q close %v", body, resp.Close)
	}
	if err := <-done; err != nil {
		t.Errorf("Shutdown: %v", err)
	}
	if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		c.Close()
		t.Error("a connection accepted after Shutdown")
	}
}

func TestConfigValidate(t *testing.T) {
	cfg := httpserve.DefaultConfig()
	if _, err := httpserve.New(cfg); err == nil {
		t.Error("no handler accepted")
	}
	cfg.Handler = http.NotFoundHandler()
	for _, bad := range []func(*httpserve.Config){
		func(c *httpserve.Config) { c.HeaderTimeout = 0 },
		func(c *httpserve.Config) { c.IdleTimeout = -1 },
		func(c *httpserve.Config) { c.WriteTimeout = 0 },
		func(c *httpserve.Config) { c.MaxHeaderBytes = 10 },
	} {
		c := cfg
		bad(&c)
		if err := c.Validate(); err == nil {
			t.Errorf("%+v accepted", c)
		}
	}
	if err := cfg.Validate(); err != nil {
		t.Error(err)
	}
}

// Shutdown does not wait out its deadline for a client that stopped reading
// its answer: a write blocked for a second ends its connection.
func TestShutdownCutsAStuckWrite(t *testing.T) {
	big := strings.Repeat("z", 1<<20)
	writing := make(chan struct{}, 1)
	s, addr := serve(t, func(w http.ResponseWriter, r *http.Request) {
		select {
		case writing <- struct{}{}:
		default:
		}
		for range 256 {
			if _, err := io.WriteString(w, big); err != nil {
				return
			}
		}
	}, nil)
	c, _ := dial(t, addr)
	fmt.Fprint(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n") // and never read
	<-writing
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	start := time.Now()
	if err := s.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v after %v", err, time.Since(start))
	}
	if el := time.Since(start); el > 10*time.Second {
		t.Errorf("Shutdown took %v, want about a second", el)
	}
}

// trickle is a request body that comes in pieces, each after a pause: the
// client is still writing it when the server answers.
type trickle struct {
	left  int
	piece int
	pause time.Duration
}

func (t *trickle) Read(p []byte) (int, error) {
	if t.left == 0 {
		return 0, io.EOF
	}
	time.Sleep(t.pause)
	n := min(len(p), t.piece, t.left)
	clear(p[:n])
	t.left -= n
	return n, nil
}

// A handler that refuses a body without reading it (413): the server
// closes, and the client, still writing the body, gets the answer rather
// than a reset of its write (closing a socket with unread bytes resets it).
func TestAnswerBeforeTheBodyReachesAWritingClient(t *testing.T) {
	_, addr := serve(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/read" {
			_, _ = io.Copy(io.Discard, io.LimitReader(r.Body, 1000))
		}
		http.Error(w, "too large", http.StatusRequestEntityTooLarge)
	}, nil)
	// Deterministic: the client writes the body only after the answer came
	// (and the server closed); every write must get through.
	for _, path := range []string{"/x", "/read"} {
		c, br := dial(t, addr)
		piece := make([]byte, 64<<10)
		fmt.Fprintf(c, "PUT %s HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n", path, 16*len(piece))
		if _, err := c.Write(piece); err != nil {
			t.Fatal(err)
		}
		if _, err := br.Peek(1); err != nil {
			t.Fatalf("%s: no answer: %v", path, err)
		}
		time.Sleep(50 * time.Millisecond) // the server has closed by now
		for i := range 15 {
			if _, err := c.Write(piece); err != nil {
				t.Fatalf("%s: writing piece %d of the body after the answer: %v", path, i, err)
			}
		}
		if resp, _ := answer(t, br, "PUT"); resp.StatusCode != http.StatusRequestEntityTooLarge || !resp.Close {
			t.Fatalf("%s: status %d close %v, want 413 and close", path, resp.StatusCode, resp.Close)
		}
	}
	// Go's client, which writes while it reads.
	client := &http.Client{Transport: &http.Transport{}, Timeout: 20 * time.Second}
	defer client.CloseIdleConnections()
	for i := range 20 {
		path := "/x"
		if i%2 == 1 {
			path = "/read" // read part of it: the rest is still unread
		}
		req, err := http.NewRequest("PUT", "http://"+addr+path, &trickle{left: 1 << 20, piece: 64 << 10, pause: 2 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		req.ContentLength = 1 << 20
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("round %d: %v", i, err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusRequestEntityTooLarge || !resp.Close {
			t.Fatalf("round %d: status %d close %v, want 413 and close", i, resp.StatusCode, resp.Close)
		}
	}
}
