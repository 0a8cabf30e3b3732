package agent_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/grapevine-sd/grapevine/agent/agenttest"
)

// TestFrontHandlerPanic pins that a handler that panics costs its own
// request and connection only: the agent goes on serving (the panic is
// recovered by the server, net/http's or the agent's own), the panicking
// request gets a 500 or a closed connection, never a complete-looking
// answer, and what was pipelined behind it on that connection is not
// served. http.ErrAbortHandler (the documented way to abort an answer) is
// the same, silently.
func TestFrontHandlerPanic(t *testing.T) {
	a := agenttest.Start(t, agenttest.Config(t, "node-a"))
	addr, stop, err := a.ServeGuardedForTest(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/panic":
			panic("front test: handler panic")
		case "/abort":
			panic(http.ErrAbortHandler)
		case "/panic-mid-length":
			w.Header().Set("Content-Length", "100")
			_, _ = w.Write([]byte("partial"))
			w.(http.Flusher).Flush()
			panic("front test: panic after part of a Content-Length body")
		case "/panic-mid-chunked":
			_, _ = w.Write([]byte("partial"))
			w.(http.Flusher).Flush()
			panic("front test: panic after part of a chunked body")
		}
		w.Header().Set("Content-Type", "text/plain")
		_, _ = w.Write([]byte("ok"))
	}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = stop() })
	for _, path := range []string{"/panic", "/abort", "/panic-mid-length", "/panic-mid-chunked"} {
		t.Run(strings.TrimPrefix(path, "/"), func(t *testing.T) {
			w := dialWire(t, addr)
			w.send("GET /ok HTTP/1.1\r\n" + frontHost + "\r\n")
			if ans := w.answer("GET"); ans.code != 200 {
				t.Fatalf("before the panic: %v", ans)
			}
			w.send("GET " + path + " HTTP/1.1\r\n" + frontHost + "\r\n" + smuggleProbe)
			got, err := w.readAll(wireTimeout)
			switch {
			case len(got) == 0 && (err == nil || isClosed(err)):
				// closed, possibly mid-answer: the client sees a truncated body
			case len(got) == 1 && got[0].code == 500 && err == nil:
			default:
				t.Errorf("GET %s: answers %v then %v, want a 500 or a close, and nothing after", path, got, err)
			}
			// Another connection is served.
			w2 := dialWire(t, addr)
			w2.send("GET /ok HTTP/1.1\r\n" + frontHost + "\r\n")
			if ans := w2.answer("GET"); ans.code != 200 || string(ans.body) != "ok" {
				t.Errorf("after the panic: %v", ans)
			}
		})
	}
	// And the agent's own listener.
	w := dialWire(t, a.HTTPAddr())
	w.send(frontSelf + frontHost + "\r\n")
	if ans := w.answer("GET"); ans.code != 200 {
		t.Errorf("agent's listener after the panics: %v", ans)
	}
}
