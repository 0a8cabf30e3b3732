package agent_test

// Bounds and lifecycle of the front door: what a client may hold (header
// and body sizes and times, connections, a server blocked on a client that
// does not read), and that the server side of a request ends when its
// client goes away or the agent shuts down. See httpfront_test.go.

import (
	"bufio"
	"cmp"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/grapevine-sd/grapevine/agent"
	"github.com/grapevine-sd/grapevine/agent/agenttest"
)

// headerBlock returns n bytes of header field lines of about 100 bytes.
func headerBlock(n int) string {
	var sb strings.Builder
	for i := 0; sb.Len() < n; i++ {
		fmt.Fprintf(&sb, "X-Filler-%05d: %s\r\n", i, strings.Repeat("f", 80))
	}
	return sb.String()
}

// TestFrontHeaderLimits pins the header size bound (64 KiB, docs/http.md):
// a header block well within it is served; one beyond it, in many lines or
// one, is answered 431 (RFC 6585 §5) and the connection closed; a request
// line beyond it 414 or 431 (RFC 9112 §3); a client that sends header
// bytes without end is cut off, not buffered.
func TestFrontHeaderLimits(t *testing.T) {
	_, ls := frontAgent(t)
	for _, l := range ls {
		t.Run(l.name+"/48 KiB served", func(t *testing.T) {
			t.Parallel()
			w := dialWire(t, l.addr)
			w.send(frontSelf + frontHost + headerBlock(48<<10) + "\r\n")
			if a := w.answer("GET"); a.code != 200 {
				t.Errorf("48 KiB of header fields: %v, want 200", a)
			}
		})
		t.Run(l.name+"/many small fields", func(t *testing.T) {
			t.Parallel()
			// 8,000 fields in 48 KiB: within the limit, served (or refused
			// 431), and fast: no cost per field beyond linear.
			var sb strings.Builder
			for i := range 8000 {
				fmt.Fprintf(&sb, "X%d:%d\r\n", i%2, i)
			}
			start := time.Now()
			w := dialWire(t, l.addr)
			w.send(frontSelf + frontHost + sb.String() + "\r\n")
			if a := w.answer("GET"); a.code != 200 && a.code != 431 {
				t.Errorf("8,000 small fields: %v, want 200 or 431", a)
			}
			// Milliseconds when linear; generous for a loaded machine
			// under -race.
			if el := time.Since(start); el > 5*time.Second {
				t.Errorf("8,000 small fields took %v", el)
			}
		})
		big := []struct{ name, req string }{
			{"80 KiB in lines", frontSelf + frontHost + headerBlock(80<<10) + "\r\n"},
			{"one 80 KiB line", frontSelf + frontHost + "X-Big: " + strings.Repeat("b", 80<<10) + "\r\n\r\n"},
			{"80 KiB request line", "GET /v1/agent/self?" + strings.Repeat("a", 80<<10) + " HTTP/1.1\r\n" + frontHost + "\r\n"},
		}
		for _, b := range big {
			t.Run(l.name+"/"+b.name, func(t *testing.T) {
				t.Parallel()
				w := dialWire(t, l.addr)
				w.send(b.req + smuggleProbe)
				got, err := w.readAll(wireTimeout, "GET")
				if err != nil || len(got) != 1 || got[0].code != 431 && got[0].code != 414 {
					t.Errorf("%s: answers %v then %v, want one 431 (or 414), then closed", b.name, got, err)
				}
			})
		}
		t.Run(l.name+"/endless header", func(t *testing.T) {
			t.Parallel()
			w := dialWire(t, l.addr)
			w.send(frontSelf + frontHost + "X-Endless: ")
			var wg sync.WaitGroup
			wg.Add(1)
			go func() { // writes until the server closes: 16 MiB at most
				defer wg.Done()
				chunk := []byte(strings.Repeat("e", 64<<10))
				for range 256 {
					_ = w.c.SetWriteDeadline(time.Now().Add(wireTimeout))
					if _, err := w.c.Write(chunk); err != nil {
						return
					}
				}
			}()
			got, err := w.readAll(wireTimeout, "GET")
			if err != nil || len(got) > 1 || len(got) == 1 && got[0].code != 431 {
				t.Errorf("endless header line: answers %v then %v, want 431 or a close", got, err)
			}
			w.c.Close()
			wg.Wait()
		})
	}
}

// TestFrontHeaderTimeout pins http_config.header_timeout (docs/config.md):
// a client that sends nothing, or its request line and header fields too
// slowly (slowloris), on a fresh connection or on a kept-alive one, is cut
// off once the header timeout has passed (with a 408 or 400, or without an
// answer), while it is still sending; an idle keep-alive connection between
// requests is not held to the header timeout.
func TestFrontHeaderTimeout(t *testing.T) {
	const timeout = 500 * time.Millisecond
	_, ls := frontAgent(t, func(c *agent.Config) { c.HTTPConfig.HeaderTimeout = timeout })
	// cutOff dribbles header bytes, one every 50 ms, and checks the server
	// ends the connection after about timeout.
	cutOff := func(t *testing.T, w *wire, start time.Time) {
		t.Helper()
		defer w.dribble("X-Slow: 1\r\n")()
		got, err := w.readAll(wireTimeout)
		el := time.Since(start)
		if err != nil || len(got) > 1 || len(got) == 1 && got[0].code != 408 && got[0].code != 400 {
			t.Errorf("slow header: answers %v then %v, want a close (or 408, or 400 for an incomplete request)", got, err)
		}
		if el < timeout/2 || el > timeout+5*time.Second {
			t.Errorf("slow header cut after %v, want about the header timeout %v", el, timeout)
		}
	}
	for _, l := range ls {
		t.Run(l.name+"/silent connection", func(t *testing.T) {
			t.Parallel()
			w := dialWire(t, l.addr)
			start := time.Now()
			got, err := w.readAll(wireTimeout)
			if el := time.Since(start); err != nil || len(got) > 1 || len(got) == 1 && got[0].code != 408 || el > timeout+5*time.Second {
				t.Errorf("a connection that sends nothing: answers %v then %v after %v, want a close after about %v", got, err, el, timeout)
			}
		})
		slow := []struct{ name, before, start string }{
			{"slow request line", "", "GET /v1/agent/self"},
			{"slow header fields", "", frontSelf + frontHost},
			{"slow second request", frontSelf + frontHost + "\r\n", frontSelf + frontHost},
		}
		for _, sc := range slow {
			t.Run(l.name+"/"+sc.name, func(t *testing.T) {
				t.Parallel()
				t0 := time.Now() // before the dial: the first header timeout runs from the accept
				w := dialWire(t, l.addr)
				if sc.before != "" { // a first request, answered; then the slow one
					w.send(sc.before)
					if a := w.answer("GET"); a.code != 200 {
						t.Fatalf("first request: %v", a)
					}
					t0 = time.Now() // the next header timeout runs from its first byte
				}
				w.send(sc.start)
				cutOff(t, w, t0)
			})
		}
		t.Run(l.name+"/pipelined behind a handler that outlasts the header timeout", func(t *testing.T) {
			t.Parallel()
			// The next request arrived whole long ago: its header timeout
			// starts when it is read, not when it was sent.
			target, indexHeader := "/v1/services/web", "X-Grapevine-Index"
			if l.name == "consul" {
				target, indexHeader = "/v1/health/service/web", "X-Consul-Index"
			}
			w := dialWire(t, l.addr)
			w.send("GET " + target + " HTTP/1.1\r\n" + frontHost + "\r\n")
			first := w.answer("GET")
			if first.code != 200 || first.header.Get(indexHeader) == "" {
				t.Fatalf("lookup: %v", first)
			}
			start := time.Now()
			w.send("GET " + target + "?index=" + first.header.Get(indexHeader) + "&wait=1s HTTP/1.1\r\n" + frontHost + "\r\n" + frontSelf + frontHost + "\r\n")
			if a := w.answer("GET"); a.code != 200 {
				t.Fatalf("blocking query of 1 s: %v", a)
			} else if el := time.Since(start); el < 2*timeout {
				t.Logf("the blocking query ended early (%v): a change came", el) // the check below holds all the same
			}
			if a := w.answer("GET"); a.code != 200 {
				t.Errorf("request pipelined behind it: %v", a)
			}
		})
		t.Run(l.name+"/idle keep-alive outlives the header timeout", func(t *testing.T) {
			t.Parallel()
			// Clients keep idle connections for reuse (Go's transport 90 s):
			// the wait for a next request is the idle timeout's (2 min), not
			// the header timeout's.
			w := dialWire(t, l.addr)
			w.send(frontSelf + frontHost + "\r\n")
			if a := w.answer("GET"); a.code != 200 {
				t.Fatalf("first request: %v", a)
			}
			if err := w.waitClosed(3 * timeout); err == nil {
				t.Fatalf("idle keep-alive connection closed within %v", 3*timeout)
			}
			w.send(frontSelf + frontHost + "\r\n")
			if a := w.answer("GET"); a.code != 200 {
				t.Errorf("request after an idle pause: %v", a)
			}
		})
	}
}

// TestFrontIdleTimeout pins http_config.idle_timeout: a kept-alive
// connection that sends no next request is closed after about the idle
// timeout (freeing its slot), and not before.
func TestFrontIdleTimeout(t *testing.T) {
	const idle = 700 * time.Millisecond
	_, ls := frontAgent(t, func(c *agent.Config) { c.HTTPConfig.IdleTimeout = idle })
	for _, l := range ls {
		t.Run(l.name, func(t *testing.T) {
			t.Parallel()
			w := dialWire(t, l.addr)
			w.send(frontSelf + frontHost + "\r\n")
			if a := w.answer("GET"); a.code != 200 {
				t.Fatalf("first request: %v", a)
			}
			start := time.Now()
			if err := w.waitClosed(idle + 10*time.Second); err != nil {
				t.Fatal(err)
			}
			if el := time.Since(start); el < idle/2 {
				t.Errorf("idle connection closed after %v, want about %v", el, idle)
			}
		})
	}
}

// TestFrontBodyLimits pins the body bounds (docs/http.md): a body announced
// over 1 MiB is refused 413 at once, without waiting for it; a chunked body
// that grows over 1 MiB is refused 413; a body of exactly 1 MiB is taken; a
// body that arrives slower than http_config.body_timeout is answered 408;
// after each refusal the connection is closed (what is left of the body
// must never be read as a request).
func TestFrontBodyLimits(t *testing.T) {
	const timeout = 300 * time.Millisecond
	_, ls := frontAgent(t, func(c *agent.Config) { c.HTTPConfig.BodyTimeout = timeout })
	for _, l := range ls {
		t.Run(l.name+"/announced over the limit", func(t *testing.T) {
			w := dialWire(t, l.addr)
			w.send(frontSelf + frontHost + "Content-Length: 1048577\r\n\r\n")
			if a := w.answer("GET"); a.code != 413 {
				t.Errorf("1 MiB + 1 announced: %v, want 413 before the body", a)
			}
			w.closed(wireTimeout, "413")
		})
		t.Run(l.name+"/exactly the limit", func(t *testing.T) {
			w := dialWire(t, l.addr)
			w.send(frontSelf + frontHost + "Content-Length: 1048576\r\n\r\n" + strings.Repeat("x", 1<<20))
			if a := w.answer("GET"); a.code != 200 {
				t.Errorf("1 MiB body: %v, want 200", a)
			}
		})
		t.Run(l.name+"/chunked over the limit", func(t *testing.T) {
			w := dialWire(t, l.addr)
			w.send(frontSelf + frontHost + "Transfer-Encoding: chunked\r\n\r\n")
			var wg sync.WaitGroup
			wg.Add(1)
			go func() { // 2 MiB in 64 KiB chunks, then a smuggled request
				defer wg.Done()
				chunk := fmt.Sprintf("10000\r\n%s\r\n", strings.Repeat("c", 64<<10))
				for range 32 {
					_ = w.c.SetWriteDeadline(time.Now().Add(wireTimeout))
					if _, err := io.WriteString(w.c, chunk); err != nil {
						return
					}
				}
				_, _ = io.WriteString(w.c, "0\r\n\r\n"+smuggleProbe)
			}()
			got, err := w.readAll(wireTimeout)
			if err != nil || len(got) != 1 || got[0].code != 413 {
				t.Errorf("2 MiB chunked: answers %v then %v, want one 413, then closed", got, err)
			}
			w.c.Close()
			wg.Wait()
		})
		t.Run(l.name+"/continue, then no body", func(t *testing.T) {
			// The client asked to be told to send, was told, and sends
			// nothing: the body timeout still ends it.
			w := dialWire(t, l.addr)
			w.send("PUT /v1/agent/services HTTP/1.1\r\n" + frontHost + "Expect: 100-continue\r\nContent-Length: 10\r\n\r\n")
			ans, n := w.final("PUT")
			if ans.code != 408 || n != 1 {
				t.Errorf("Expect: 100-continue and no body: %v after %d 1xx, want 100 then 408", ans, n)
			}
			w.closed(wireTimeout, "408")
		})
		for _, frame := range []string{"Content-Length: 100\r\n\r\n{", "Transfer-Encoding: chunked\r\n\r\n64\r\n{"} {
			t.Run(l.name+"/slow body "+strings.Fields(frame)[0], func(t *testing.T) {
				w := dialWire(t, l.addr)
				start := time.Now()
				w.send(frontSelf + frontHost + frame)
				stop := w.dribble(" ")
				got, err := w.readAll(wireTimeout)
				stop()
				if err != nil || len(got) != 1 || got[0].code != 408 {
					t.Errorf("slow body: answers %v then %v, want one 408, then closed", got, err)
				}
				if el := time.Since(start); el < timeout/2 || el > timeout+5*time.Second {
					t.Errorf("slow body cut after %v, want about the body timeout %v", el, timeout)
				}
			})
		}
	}
}

// TestFrontSlowReader pins that a client that sends requests but never
// reads the answers blocks only its own connection: other clients of the
// same listener are served meanwhile, and once it goes away its connection
// is released.
func TestFrontSlowReader(t *testing.T) {
	a, ls := frontAgent(t)
	base := "http://" + a.HTTPAddr()
	for i := range 100 { // answers of a few tens of KiB on both listeners
		r := rawString(t, "PUT", base+"/v1/agent/services", fmt.Sprintf(`{"name":"web","id":"web-%d","port":80,"meta":{"pad":"%s"}}`, i, strings.Repeat("p", 200)))
		if r.code != 200 {
			t.Fatalf("register: %d %s", r.code, r.body)
		}
	}
	for _, l := range ls {
		t.Run(l.name, func(t *testing.T) {
			target := "/v1/services/web"
			if l.name == "consul" {
				target = "/v1/health/service/web"
			}
			// 2,000 pipelined requests for ~40 KiB each: far more than the
			// socket buffers hold, so the server blocks writing to it.
			slow := dialWire(t, l.addr)
			slow.send(strings.Repeat("GET "+target+" HTTP/1.1\r\n"+frontHost+"\r\n", 2000))
			for i := range 5 {
				start := time.Now()
				w := dialWire(t, l.addr)
				w.send("GET " + target + " HTTP/1.1\r\n" + frontHost + "Connection: close\r\n\r\n")
				if ans := w.answer("GET"); ans.code != 200 || len(ans.body) < 20<<10 {
					t.Fatalf("other client, request %d: %v", i, ans)
				}
				if el := time.Since(start); el > 5*time.Second {
					t.Errorf("other client waited %v beside a client that does not read", el)
				}
				w.c.Close()
			}
			slow.c.Close()
			agenttest.Eventually(t, wireTimeout, func() (bool, string) {
				n := metricValue(t, a.HTTPAddr(), "grapevine_http_connections")
				return n == 1, fmt.Sprintf("%v connections open, want 1 (the scrape's own)", n)
			})
		})
	}
}

// TestFrontDisconnectFreesServer pins that a request that waits (a
// blocking query, a watch stream) ends on the server when its client goes
// away: the route's request is counted done
// (grapevine_http_request_duration_seconds_count grows, which happens when
// the handler returns) and the connection is released
// (grapevine_http_connections back to the scrape's own).
func TestFrontDisconnectFreesServer(t *testing.T) {
	a, ls := frontAgent(t)
	native, consul := ls[0].addr, ls[1].addr
	r := rawString(t, "PUT", "http://"+native+"/v1/agent/services", `{"name":"web","id":"web-1","port":80}`)
	if r.code != 200 {
		t.Fatalf("register: %d %s", r.code, r.body)
	}
	index := func(addr, target, header string) string {
		w := dialWire(t, addr)
		w.send("GET " + target + " HTTP/1.1\r\n" + frontHost + "Connection: close\r\n\r\n")
		ans := w.answer("GET")
		if ans.code != 200 || ans.header.Get(header) == "" {
			t.Fatalf("GET %s: %v, %s %q", target, ans, header, ans.header.Get(header))
		}
		return ans.header.Get(header)
	}
	nativeBlocking := func() string {
		return "/v1/services/web?index=" + index(native, "/v1/services/web", "X-Grapevine-Index") + "&wait=5m"
	}
	consulBlocking := func() string {
		return "/v1/health/service/web?index=" + index(consul, "/v1/health/service/web", "X-Consul-Index") + "&wait=5m"
	}
	const nativeRoute, consulRoute, streamRoute = "GET /v1/services/{name}", "consul GET /v1/health/service/{name}", "GET /v1/stream"
	stream := func() string { return "/v1/stream?service=web" }
	type req struct {
		method string // GET unless set
		proto  string // HTTP/1.1 unless set
		// after: bytes the client sends behind its request before it goes
		// away (a pipelined request, part of one), at once or, with later,
		// once the handler waits: its going away must be noticed all the
		// same.
		after string
		later bool
	}
	cases := []struct {
		name, addr, route string
		target            func() string
		stream            bool
		req               req
	}{
		{"native blocking query", native, nativeRoute, nativeBlocking, false, req{}},
		{"native watch stream", native, streamRoute, stream, true, req{}},
		{"native watch stream of everything", native, streamRoute, func() string { return "/v1/stream" }, true, req{}},
		{"native watch stream over HTTP/1.0", native, streamRoute, stream, true, req{proto: "HTTP/1.0"}},
		{"consul blocking query", consul, consulRoute, consulBlocking, false, req{}},
		{"native blocking query, a request pipelined behind it", native, nativeRoute, nativeBlocking, false, req{after: smuggleProbe}},
		{"native blocking query, part of a request behind it", native, nativeRoute, nativeBlocking, false, req{after: "GET /v1/ag"}},
		{"consul blocking query, a request pipelined behind it", consul, consulRoute, consulBlocking, false, req{after: smuggleProbe}},
		{"native watch stream, a request pipelined behind it", native, streamRoute, stream, true, req{after: smuggleProbe}},
		{"native blocking query, a request sent behind it later", native, nativeRoute, nativeBlocking, false, req{after: smuggleProbe, later: true}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			count := `grapevine_http_request_duration_seconds_count{route="` + tc.route + `"}`
			target := tc.target()
			before := max(metricValue(t, native, count), 0) // -1: not served yet
			w := dialWire(t, tc.addr)
			proto, method := cmp.Or(tc.req.proto, "HTTP/1.1"), cmp.Or(tc.req.method, "GET")
			w.send(method + " " + target + " " + proto + "\r\n" + frontHost + "\r\n")
			if !tc.req.later {
				w.send(tc.req.after)
			}
			if tc.stream {
				// The answer's header and first event (a HEAD's: its header),
				// then it stays open.
				_ = w.c.SetReadDeadline(time.Now().Add(wireTimeout))
				line, err := w.br.ReadString('\n')
				if err != nil || !strings.HasPrefix(line, "HTTP/1.1 200 ") && !strings.HasPrefix(line, "HTTP/1.0 200 ") {
					t.Fatalf("stream: %q %v", line, err)
				}
				for !strings.HasPrefix(line, "data:") && !(method == "HEAD" && line == "\r\n") && err == nil {
					if proto == "HTTP/1.0" && strings.EqualFold(strings.TrimSpace(line), "Transfer-Encoding: chunked") {
						t.Errorf("stream to an HTTP/1.0 client is chunked (RFC 9112 §6.1)")
					}
					line, err = w.br.ReadString('\n')
				}
				if err != nil {
					t.Fatalf("stream: no first event: %v", err)
				}
			} else if got, err := w.readAll(quietRead); len(got) > 0 || !isTimeout(err) {
				t.Fatalf("blocking query answered at once: %v %v", got, err)
			}
			agenttest.Eventually(t, wireTimeout, func() (bool, string) { // earlier connections may linger
				n := metricValue(t, native, "grapevine_http_connections")
				return n == 2, fmt.Sprintf("%v connections open while waiting, want 2 (this and the scrape)", n)
			})
			if tc.req.later { // once the handler waits: a client pipelining as it reads
				w.send(tc.req.after)
			}
			w.c.Close()
			agenttest.Eventually(t, wireTimeout, func() (bool, string) {
				done := metricValue(t, native, count)
				open := metricValue(t, native, "grapevine_http_connections")
				return done == before+1 && open == 1, fmt.Sprintf("%s: %v (was %v); %v connections, want 1", count, done, before, open)
			})
		})
	}
	_ = a
}

// TestFrontShutdown pins that closing the agent ends what its listeners
// hold, promptly: watch streams end, blocking queries (native and Consul)
// are answered or closed, idle keep-alive connections are closed, and
// Close returns within a few seconds, not after the queries' wait.
func TestFrontShutdown(t *testing.T) {
	for _, held := range []string{"waiting requests", "a half-sent request", "a client that does not read"} {
		t.Run(held, func(t *testing.T) {
			cfg := agenttest.Config(t, "node-a")
			cfg.Consul.HTTP = "127.0.0.1:0"
			a := agenttest.Start(t, cfg)
			native, consul := a.HTTPAddr(), a.ConsulAddr()
			var ws []*wire
			open := func(addr, req string) *wire {
				w := dialWire(t, addr)
				w.send(req)
				ws = append(ws, w)
				return w
			}
			idle := open(native, frontSelf+frontHost+"\r\n")
			if ans := idle.answer("GET"); ans.code != 200 {
				t.Fatalf("idle connection's request: %v", ans)
			}
			stream := open(native, "GET /v1/stream HTTP/1.1\r\n"+frontHost+"\r\n")
			_ = stream.c.SetReadDeadline(time.Now().Add(wireTimeout))
			if b, err := stream.br.Peek(len("HTTP/1.1 200 ")); err != nil || string(b) != "HTTP/1.1 200 " {
				t.Fatalf("stream: %q %v", b, err)
			}
			open(native, "GET /v1/services/web?index=1&wait=5m HTTP/1.1\r\n"+frontHost+"\r\n")
			open(consul, "GET /v1/health/service/web?index=1&wait=5m HTTP/1.1\r\n"+frontHost+"\r\n")
			switch held {
			case "a half-sent request":
				open(native, frontSelf+frontHost+"X-Half")
				open(consul, frontSelf+frontHost+"X-Half")
			case "a client that does not read":
				// Far more answer bytes than the socket buffers hold: the
				// server blocks writing (its write timeout is minutes).
				open(native, strings.Repeat("GET /metrics HTTP/1.1\r\n"+frontHost+"\r\n", 4000))
			}
			// Both blocking queries are being served (their handlers wait).
			agenttest.Eventually(t, wireTimeout, func() (bool, string) {
				n := metricValue(t, native, "grapevine_http_connections")
				return n == float64(len(ws)+1), fmt.Sprintf("%v connections, want %d", n, len(ws)+1)
			})
			time.Sleep(quietRead) // let the blocking queries reach their wait
			start := time.Now()
			closed := make(chan error, 1)
			go func() { closed <- a.Close() }()
			var el time.Duration
			select {
			case err := <-closed:
				el = time.Since(start)
				if err != nil {
					t.Errorf("Close: %v", err)
				}
			case <-time.After(20 * time.Second):
				t.Fatal("Close did not return within 20 s")
			}
			if el > 4*time.Second { // a listener that waits for them takes its 5 s deadline
				t.Errorf("Close took %v with %s open, want under 4 s", el, held)
			}
			for i, w := range ws {
				if held == "a client that does not read" && i == len(ws)-1 {
					continue // its answers are many MiB
				}
				got, err := w.readAll(wireTimeout)
				if w == stream && err != nil && isClosed(err) {
					err = nil // a stream may end by the close alone
				}
				if err != nil {
					t.Errorf("connection %d not ended by the shutdown: answers %v then %v", i, got, err)
				}
			}
		})
	}
}

// TestFrontConnectionCaps pins the connection caps on both listeners
// (docs/http.md): beyond http_config.max_conns_per_client a new connection
// from that client is answered 429, beyond http_config.max_conns one from
// anyone 503, each a well-formed answer with Connection: close, then closed;
// a slot given back is usable again.
func TestFrontConnectionCaps(t *testing.T) {
	_, ls := frontAgent(t, agent.PerAddressClientsForTest, func(c *agent.Config) {
		c.HTTPConfig.MaxConnsPerClient = 2
		c.HTTPConfig.MaxConns = 4
	})
	for _, l := range ls {
		t.Run(l.name, func(t *testing.T) {
			refused := func(src string, code int) {
				t.Helper()
				c := dialFrom(t, src, l.addr)
				w := &wire{t: t, c: c, br: bufio.NewReader(c)}
				got, err := w.readAll(wireTimeout)
				if err != nil || len(got) != 1 || got[0].code != code || !got[0].closes() {
					t.Errorf("connection from %s over a cap: answers %v then %v, want one %d with Connection: close, then closed", src, got, err, code)
				}
			}
			a1 := dialFrom(t, "127.0.0.1", l.addr)
			dialFrom(t, "127.0.0.1", l.addr)
			refused("127.0.0.1", 429)
			dialFrom(t, "127.0.0.2", l.addr)
			dialFrom(t, "127.0.0.3", l.addr)
			refused("127.0.0.4", 503)
			a1.Close()
			var w *wire
			agenttest.Eventually(t, wireTimeout, func() (bool, string) {
				c := dialFrom(t, "127.0.0.1", l.addr)
				w = &wire{t: t, c: c, br: bufio.NewReader(c)}
				w.send(frontSelf + frontHost + "\r\n")
				_ = c.SetReadDeadline(time.Now().Add(wireTimeout))
				ans, err := readAnswer(w.br, "GET")
				if err != nil || ans.code != 200 {
					c.Close()
					return false, fmt.Sprintf("after a slot was given back: %v %v", ans, err)
				}
				return true, ""
			})
			w.c.Close()
		})
	}
}

// TestFrontTLS pins the TLS listener's front (docs/http.md, TLS): a
// plain-HTTP request is refused (never served in clear), a client that
// opens a connection and sends no handshake, or handshakes and then sends
// its header too slowly, is cut off after the header timeout, and a request
// over TLS is served with the same framing.
func TestFrontTLS(t *testing.T) {
	const timeout = 500 * time.Millisecond
	pki := agenttest.NewTLSFiles(t, t.TempDir())
	_, ls := frontAgent(t, func(c *agent.Config) {
		c.TLS = agent.TLSConfig{CertFile: pki.Cert, KeyFile: pki.Key}
		c.HTTPConfig.HeaderTimeout = timeout
	})
	caPEM, err := os.ReadFile(pki.CA)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(caPEM)
	dialTLS := func(t *testing.T, addr string) *wire {
		c, err := tls.DialWithDialer(&net.Dialer{Timeout: wireTimeout}, "tcp", addr, &tls.Config{RootCAs: roots, ServerName: "localhost", NextProtos: []string{"h2", "http/1.1"}})
		if err != nil {
			t.Fatalf("tls dial: %v", err)
		}
		t.Cleanup(func() { c.Close() })
		if p := c.ConnectionState().NegotiatedProtocol; p == "h2" {
			t.Errorf("ALPN chose %q: HTTP/2 is off", p)
		}
		return &wire{t: t, c: c, br: bufio.NewReader(c)}
	}
	for _, l := range ls {
		t.Run(l.name+"/plain HTTP", func(t *testing.T) {
			w := dialWire(t, l.addr)
			w.send(frontSelf + frontHost + "Connection: close\r\n\r\n")
			_ = w.c.SetReadDeadline(time.Now().Add(wireTimeout))
			b, _ := io.ReadAll(w.c)
			if s := string(b); strings.Contains(s, " 200 ") || s != "" && !strings.HasPrefix(s, "HTTP/1.") && !strings.HasPrefix(s, "\x15\x03") {
				t.Errorf("plain HTTP to the TLS listener got %q, want a 400, a TLS alert or a close", s)
			}
		})
		t.Run(l.name+"/TLS request", func(t *testing.T) {
			w := dialTLS(t, l.addr)
			w.send(frontSelf + frontHost + "\r\n")
			a := w.answer("GET")
			if a.code != 200 {
				t.Errorf("over TLS: %v", a)
			}
			checkAnswer(t, "over TLS", a)
		})
		t.Run(l.name+"/no handshake", func(t *testing.T) {
			w := dialWire(t, l.addr)
			start := time.Now()
			_ = w.c.SetReadDeadline(time.Now().Add(wireTimeout))
			_, err := io.ReadAll(w.c)
			if el := time.Since(start); err != nil && !isClosed(err) || el > timeout+5*time.Second {
				t.Errorf("a connection without a handshake: ended after %v with %v, want a close after about %v", el, err, timeout)
			}
		})
		t.Run(l.name+"/slow header after the handshake", func(t *testing.T) {
			w := dialTLS(t, l.addr)
			start := time.Now()
			w.send(frontSelf)
			got, err := w.readAll(wireTimeout)
			if el := time.Since(start); err != nil || len(got) > 1 || len(got) == 1 && got[0].code != 408 || el > timeout+5*time.Second {
				t.Errorf("half a header over TLS: answers %v then %v after %v, want a close after about %v", got, err, el, timeout)
			}
		})
	}
}

// TestFrontSlotsFreedAfterDisconnect pins the consequence that matters of a
// server that does not notice clients going away: connection slots. A
// client takes every slot it may have (max_conns_per_client; all of
// loopback is one client) with requests that wait (a watch stream by HEAD,
// blocking queries), each with its next request pipelined behind it, then
// closes them all: its slots must come back, else it has locked every local
// client out of the API (429) until the waits end, or for a HEAD stream,
// until the agent stops.
func TestFrontSlotsFreedAfterDisconnect(t *testing.T) {
	const slots = 4
	_, ls := frontAgent(t, func(c *agent.Config) { c.HTTPConfig.MaxConnsPerClient = slots })
	for _, l := range ls {
		t.Run(l.name, func(t *testing.T) {
			held := "HEAD /v1/stream HTTP/1.1\r\n" + frontHost + "\r\n"
			if l.name == "consul" {
				got, err := exchange(l.addr, "GET /v1/health/service/web HTTP/1.1\r\n"+frontHost+"Connection: close\r\n\r\n")
				if err != nil || len(got) != 1 || got[0].header.Get("X-Consul-Index") == "" {
					t.Fatalf("lookup: %v %v", got, err)
				}
				held = "GET /v1/health/service/web?index=" + got[0].header.Get("X-Consul-Index") + "&wait=10m HTTP/1.1\r\n" + frontHost + "\r\n"
			}
			for range slots {
				w := dialWire(t, l.addr)
				w.send(held + smuggleProbe)
				if l.name == "native" {
					_ = w.c.SetReadDeadline(time.Now().Add(wireTimeout))
					if b, err := w.br.Peek(len("HTTP/1.1 200")); err != nil || string(b) != "HTTP/1.1 200" {
						t.Fatalf("HEAD /v1/stream: %q %v", b, err)
					}
				}
				w.c.Close()
			}
			agenttest.Eventually(t, wireTimeout, func() (bool, string) {
				got, err := exchange(l.addr, frontSelf+frontHost+"Connection: close\r\n\r\n")
				if err != nil || len(got) != 1 || got[0].code != 200 {
					return false, fmt.Sprintf("a new connection from the client that went away: %v %v", got, err)
				}
				return true, ""
			})
		})
	}
}
