package agent_test

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/grapevine-sd/grapevine/agent/agenttest"
)

// FuzzFrontRequestStream feeds arbitrary bytes as the request stream of one
// connection to each of the agent's listeners (the whole served stack: the
// server's connection loop, the guard, the routes) and checks that
//
//   - the agent never panics (a panic ends the test binary) and serves a
//     fresh connection after each input;
//   - everything it sends back is well-formed HTTP/1.1 answers (readAnswer's
//     strict reading), or nothing: it closes;
//   - it never answers more requests than the bytes hold when read by
//     net/http's parser (http.ReadRequest), so no bytes become a request the
//     parser did not see (request smuggling);
//   - the answer to a HEAD has no body (the reader is told the methods).
//
// The client half-closes after its bytes; the agent must then finish and
// close (a stream or blocking query ends when its client goes away). Seeds:
// the framing cases and conversations of the suite.
//
//	go test -run '^$' -fuzz FuzzFrontRequestStream -fuzztime 60s ./agent/
func FuzzFrontRequestStream(f *testing.F) {
	for _, tc := range smuggleCases {
		f.Add([]byte(tc.req + smuggleProbe))
	}
	for _, s := range conversation(frontListener{name: "native"}) {
		f.Add([]byte(s.req))
	}
	f.Add([]byte("HEAD /v1/agent/self HTTP/1.1\r\n" + frontHost + "\r\n" + smuggleProbe))
	f.Add([]byte("PUT /v1/agent/services HTTP/1.1\r\n" + frontHost + "Expect: 100-continue\r\nContent-Length: 32\r\n\r\n{\"name\":\"fuzz\",\"port\":80}      "))
	f.Add([]byte("GET /v1/services/web?index=1&wait=5s HTTP/1.1\r\n" + frontHost + "\r\n"))
	f.Add([]byte("GET /v1/stream HTTP/1.1\r\n" + frontHost + "\r\n"))
	f.Add([]byte("GET /v1/agent/self HTTP/1.0\r\n\r\n"))
	f.Add([]byte(frontSelf + frontHost + "Content-Length: 10\r\n\r\nshort"))
	f.Add([]byte(frontSelf + frontHost + headerBlock(70<<10) + "\r\n"))

	cfg := agenttest.Config(f, "node-a")
	cfg.Consul.HTTP = "127.0.0.1:0"
	cfg.HTTPConfig.HeaderTimeout = 100 * time.Millisecond
	cfg.HTTPConfig.BodyTimeout = 100 * time.Millisecond
	cfg.HTTPConfig.MaxConnsPerClient = cfg.HTTPConfig.MaxConns
	a := agenttest.Start(f, cfg)
	addrs := []string{a.HTTPAddr(), a.ConsulAddr()}

	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > 256<<10 {
			t.Skip("over 256 KiB")
		}
		for _, addr := range addrs {
			frontStream(t, addr, data)
			// The listener still serves.
			w := dialWire(t, addr)
			w.send(frontSelf + frontHost + "Connection: close\r\n\r\n")
			if ans := w.answer("GET"); ans.code != 200 {
				t.Fatalf("after the input, a fresh request: %v", ans)
			}
			_ = w.c.Close()
		}
	})
}

// frontStream sends data on a connection, half-closes it and judges what
// comes back.
func frontStream(t *testing.T, addr string, data []byte) {
	t.Helper()
	methods, parsed := requestMethods(data)
	c, err := net.DialTimeout("tcp", addr, wireTimeout)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	go func() { // may block on a server that does not read; the close ends it
		_ = c.SetWriteDeadline(time.Now().Add(wireTimeout))
		_, _ = c.Write(data)
		_ = c.(*net.TCPConn).CloseWrite()
	}()
	// Read everything the server sends until it closes (or, for a stream
	// that outlives the test's patience, goes quiet).
	_ = c.SetReadDeadline(time.Now().Add(3 * time.Second))
	out, err := io.ReadAll(c)
	quiet := isTimeout(err)
	if err != nil && !quiet && !isClosed(err) {
		t.Fatalf("read: %v", err)
	}
	br := bufio.NewReader(bytes.NewReader(out))
	final := 0
	for {
		if _, err := br.Peek(1); err != nil {
			break
		}
		m := "GET"
		if final < len(methods) {
			m = methods[final]
		}
		ans, err := readAnswer(br, m)
		if err != nil {
			if quiet && isClosed(err) {
				return // an answer (a stream) still going when the test stopped reading
			}
			t.Fatalf("answer %d (to %s) malformed: %v\ninput %q\noutput %q", final+1, m, err, data, out)
		}
		if ans.code >= 200 {
			final++
		}
		if final > parsed+1 {
			t.Fatalf("%d final answers to %d requests (+1 error answer) as http.ReadRequest reads them\ninput %q\noutput %q", final, parsed, data, out)
		}
	}
}

// requestMethods reads data as net/http's parser does, request after
// request (after the empty lines the server ignores), and returns their
// methods and how many parsed.
func requestMethods(data []byte) ([]string, int) {
	br := bufio.NewReader(bytes.NewReader(data))
	var methods []string
	for {
		// As the server does (RFC 9112 §2.2): up to two empty lines
		// before a request line are ignored.
		for range 2 {
			if b, err := br.Peek(2); err == nil && b[0] == '\r' && b[1] == '\n' {
				_, _ = br.Discard(2)
			}
		}
		req, err := http.ReadRequest(br)
		if err != nil {
			return methods, len(methods)
		}
		methods = append(methods, req.Method)
		if _, err := io.Copy(io.Discard, req.Body); err != nil {
			return methods, len(methods)
		}
	}
}
