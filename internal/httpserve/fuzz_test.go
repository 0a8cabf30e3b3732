package httpserve

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// FuzzConn feeds arbitrary bytes to a connection as a client's request
// stream. The server must not panic or hang, and what it sends back must be
// a sequence of well-formed HTTP/1.1 answers.
func FuzzConn(f *testing.F) {
	for _, seed := range []string{
		"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
		"GET /a HTTP/1.1\r\nHost: x\r\n\r\nGET /b HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
		"HEAD / HTTP/1.1\r\nHost: x\r\n\r\n",
		"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\nGET / HTTP/1.0\r\n\r\n",
		"PUT /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc",
		"PUT /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
		"PUT /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
		"PUT /echo HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\nhi",
		"PUT /ignore HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhelloGET / HTTP/1.1\r\nHost: x\r\n\r\n",
		"GET /flush HTTP/1.1\r\nHost: x\r\n\r\n",
		"GET /flush HTTP/1.0\r\n\r\n",
		"GET /panic HTTP/1.1\r\nHost: x\r\n\r\n",
		"GET /204 HTTP/1.1\r\nHost: x\r\n\r\n",
		"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n\r\nx\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: x\r\nX: a\r\n b\r\n\r\n",
		"GET http://x/ HTTP/1.1\r\n\r\n",
		"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
		"GET / HTTP/1.1\nHost: x\n\n",
		"\x00\xff\r\n\r\n",
	} {
		f.Add([]byte(seed))
	}
	cfg := DefaultConfig()
	cfg.MaxHeaderBytes = 4 << 10
	cfg.HeaderTimeout = 2 * time.Second
	cfg.IdleTimeout = 2 * time.Second
	cfg.WriteTimeout = 2 * time.Second
	cfg.Handler = http.HandlerFunc(fuzzHandler)
	s, err := New(cfg)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		fc := &fakeConn{in: bytes.NewReader(in)}
		c := newConn(s, fc)
		done := make(chan struct{})
		go func() {
			defer close(done)
			c.serve()
		}()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Fatal("connection goroutine did not end")
		}
		fc.mu.Lock()
		out := fc.out.Bytes()
		fc.mu.Unlock()
		checkAnswers(t, in, out)
	})
}

// fakeConn is a connection whose client sent in and then closed its side;
// what the server writes is kept.
type fakeConn struct {
	in      *bytes.Reader
	mu      sync.Mutex // guards in, out, n (the background read reads too)
	out     bytes.Buffer
	discard bool  // keep nothing, count answers (benchmarks)
	n       int64 // answers seen, when discarding
}

func (c *fakeConn) Read(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.in.Read(p)
}

func (c *fakeConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.discard {
		c.n += int64(bytes.Count(p, []byte("HTTP/1.1 ")))
		return len(p), nil
	}
	if c.out.Len()+len(p) > 1<<20 {
		return 0, io.ErrShortWrite
	}
	return c.out.Write(p)
}

func (c *fakeConn) Close() error                     { return nil }
func (c *fakeConn) LocalAddr() net.Addr              { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 80} }
func (c *fakeConn) RemoteAddr() net.Addr             { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 1234} }
func (c *fakeConn) SetDeadline(time.Time) error      { return nil }
func (c *fakeConn) SetReadDeadline(time.Time) error  { return nil }
func (c *fakeConn) SetWriteDeadline(time.Time) error { return nil }

func fuzzHandler(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case "/echo":
		b, _ := io.ReadAll(io.LimitReader(r.Body, 1<<10))
		_, _ = w.Write(b)
	case "/ignore":
	case "/flush":
		_, _ = io.WriteString(w, "a")
		w.(http.Flusher).Flush()
		_, _ = io.WriteString(w, "b")
	case "/panic":
		panic("fuzz")
	case "/204":
		w.WriteHeader(http.StatusNoContent)
	default:
		w.Header().Set("X-Path", r.URL.Path)
		_, _ = io.WriteString(w, r.Method)
	}
}

// checkAnswers parses out as a sequence of answers (interim 1xx ones
// included) to the requests in in (read again to know which were HEAD).
func checkAnswers(t *testing.T, in, out []byte) {
	t.Helper()
	reqs := bufio.NewReader(bytes.NewReader(in))
	br := bufio.NewReader(bytes.NewReader(out))
	for {
		if _, err := br.Peek(1); err != nil {
			return
		}
		line, err := br.Peek(min(br.Buffered(), 12))
		if err != nil || !strings.HasPrefix(string(line), "HTTP/1.1 ") {
			t.Fatalf("not an answer: %q", out)
		}
		interim := strings.HasPrefix(string(line), "HTTP/1.1 1")
		method := http.MethodGet
		if !interim {
			if req, err := http.ReadRequest(reqs); err == nil {
				method = req.Method
				_, _ = io.Copy(io.Discard, req.Body)
			}
		}
		resp, err := http.ReadResponse(br, &http.Request{Method: method})
		if err != nil {
			t.Fatalf("malformed answer: %v in %q", err, out)
		}
		if _, err := io.Copy(io.Discard, resp.Body); err != nil {
			t.Fatalf("malformed body: %v in %q", err, out)
		}
		resp.Body.Close()
		if resp.Close {
			if rest, _ := io.ReadAll(br); len(rest) > 0 {
				t.Fatalf("bytes after a closing answer: %q", rest)
			}
			return
		}
	}
}
