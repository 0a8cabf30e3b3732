package agent_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/grapevine-sd/grapevine/agent"
	"github.com/grapevine-sd/grapevine/agent/agenttest"
)

// The attacks of the HTTP API's security review, re-run against a real agent
// with the default configuration; each logs its figure:
//
//	go test -v -count=1 -run TestAttack ./agent/

// TestAttackManyChecksPUT: one ~1 MB PUT carrying 36,000 TTL checks once
// started 36,000 goroutines (+284 MiB). Now it is refused (limits) and the
// agent's goroutines and heap stay where they were.
func TestAttackManyChecksPUT(t *testing.T) {
	_, _, base := single(t)
	var checks []string
	for i := range 36000 {
		checks = append(checks, fmt.Sprintf(`{"type":"ttl","ttl":"%dh"}`, 1+i%9))
	}
	body := `{"name":"web","port":80,"checks":[` + strings.Join(checks, ",") + `]}`
	runtime.GC()
	g0, h0 := runtime.NumGoroutine(), heapMiB()
	code, out := call(t, "PUT", base+"/v1/agent/services", "", body)
	runtime.GC()
	g1, h1 := runtime.NumGoroutine(), heapMiB()
	t.Logf("36,000-check PUT of %d KB: HTTP %d %q; goroutines %d -> %d; heap %.1f -> %.1f MiB", len(body)/1000, code, strings.TrimSpace(out), g0, g1, h0, h1)
	if code != http.StatusBadRequest || !strings.Contains(out, "checks_per_instance") {
		t.Errorf("got %d %s, want 400 naming limits.checks_per_instance", code, out)
	}
	if g1-g0 > 20 || h1-h0 > 32 {
		t.Errorf("the refused PUT grew the agent: goroutines +%d, heap +%.1f MiB", g1-g0, h1-h0)
	}
}

func heapMiB() float64 {
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return float64(m.HeapAlloc) / (1 << 20)
}

// TestAttackDribblingPUTs: 2,000 PUTs from one address sending a body byte
// every 5 s once all stayed open. Now at most max_conns_per_client (200) are
// accepted, the rest are answered 429 at once, the accepted ones are cut
// after body_timeout (10 s) with 408, and other clients are served all along.
func TestAttackDribblingPUTs(t *testing.T) {
	if testing.Short() {
		t.Skip("takes body_timeout (10 s)")
	}
	a, _, _ := single(t, agent.PerAddressClientsForTest) // 127.0.0.2 stands for another host
	def := agent.DefaultConfig().HTTPConfig
	const n = 2000
	conns := make([]net.Conn, 0, n)
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	start := time.Now()
	for range n {
		c, err := net.DialTimeout("tcp", a.HTTPAddr(), 5*time.Second)
		if err != nil {
			t.Fatalf("dial: %v", err)
		}
		fmt.Fprintf(c, "PUT /v1/agent/services HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 1000\r\n\r\n{")
		conns = append(conns, c)
	}
	// Another client (127.0.0.2) is still served.
	other := &http.Client{Transport: &http.Transport{DialContext: (&net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 2)}}).DialContext}}
	defer other.CloseIdleConnections()
	open := func() string {
		resp, err := other.Get("http://" + a.HTTPAddr() + "/metrics")
		if err != nil {
			return "scrape failed: " + err.Error()
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		for _, l := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(l, "grapevine_http_connections ") {
				return strings.TrimPrefix(l, "grapevine_http_connections ")
			}
		}
		return "?"
	}
	// Sort the connections, all at once: answered 429, or held.
	readers := make([]*bufio.Reader, len(conns))
	var wg sync.WaitGroup
	for i, c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = c.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
			readers[i] = bufio.NewReader(c)
			if resp, err := http.ReadResponse(readers[i], nil); err == nil {
				resp.Body.Close()
				if resp.StatusCode == http.StatusTooManyRequests {
					readers[i] = nil
				}
			}
		}()
	}
	wg.Wait()
	// A 429 that a loaded machine did not deliver within the first deadline is
	// read again: held connections get no answer before body_timeout anyway.
	for i, r := range readers {
		if r == nil {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = conns[i].SetReadDeadline(time.Now().Add(2 * time.Second))
			if resp, err := http.ReadResponse(r, nil); err == nil {
				resp.Body.Close()
				if resp.StatusCode == http.StatusTooManyRequests {
					readers[i] = nil
				}
			}
		}()
	}
	wg.Wait()
	refused, held := 0, 0
	for _, r := range readers {
		if r == nil {
			refused++
		} else {
			held++
		}
	}
	openAfterDial := open()
	t.Logf("%d dribbling PUTs from one address: %d answered 429 at once, %d held; open connections (grapevine_http_connections, one is the scrape): %s", n, refused, held, openAfterDial)
	if held > def.MaxConnsPerClient || refused < n-def.MaxConnsPerClient {
		t.Errorf("held %d, refused %d: want at most %d held", held, refused, def.MaxConnsPerClient)
	}
	// Dribble one byte every 5 s (one writer for all) until the agent cut them.
	var cutAt time.Duration
	for tick := 0; time.Since(start) < def.BodyTimeout+def.HeaderTimeout+5*time.Second; tick++ {
		if tick%50 == 0 {
			for _, c := range conns {
				_ = c.SetWriteDeadline(time.Now().Add(10 * time.Millisecond))
				_, _ = c.Write([]byte(" "))
			}
		}
		if o := open(); o == "1" {
			cutAt = time.Since(start)
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	timedOut := 0
	for i, c := range conns {
		if readers[i] == nil {
			continue
		}
		_ = c.SetReadDeadline(time.Now().Add(time.Second))
		if resp, err := http.ReadResponse(readers[i], nil); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusRequestTimeout {
				timedOut++
			}
		}
	}
	t.Logf("all held connections cut %v after they opened (body_timeout %v), %d of them answered 408; open now: %s",
		cutAt.Round(100*time.Millisecond), def.BodyTimeout, timedOut, open())
	if cutAt == 0 || timedOut != held {
		t.Errorf("dribbling connections: cut at %v, %d of %d answered 408; open: %s", cutAt, timedOut, held, open())
	}
}

// TestAttackUnauthenticatedWrites: with the ACL on, a process without a token
// can no longer deregister or redirect an instance, nor can a DNS-rebinding
// page (foreign Host) reach the API, nor an exec check run.
func TestAttackUnauthenticatedWrites(t *testing.T) {
	_, _, base := single(t, func(c *agent.Config) { c.ACL = aclConfig("allow") })
	if code, out := call(t, "PUT", base+"/v1/agent/services", secOper, `{"name":"web","id":"web-a","address":"10.0.0.1","port":80}`); code != 200 {
		t.Fatalf("setup: %d %s", code, out)
	}
	attacks := []struct {
		name, method, path, body string
		headers                  []string
		want                     int
	}{
		{"deregister without a token", "DELETE", "/v1/agent/services/web-a", "", nil, 401},
		{"repoint web without a token", "PUT", "/v1/agent/services", `{"name":"web","id":"web-a","address":"6.6.6.6","port":80}`, nil, 401},
		{"rebinding page (Host evil.example.com)", "PUT", "/v1/agent/services", `{"name":"web","port":80}`, []string{"Host: evil.example.com", "X-Grapevine-Token: " + secOper}, 403},
		{"exec check with an operator token", "PUT", "/v1/agent/services", `{"name":"web","checks":[{"type":"exec","args":["/bin/sh","-c","id > /tmp/pwned"]}]}`, []string{"X-Grapevine-Token: " + secOper}, 403},
	}
	for _, at := range attacks {
		code, out := call(t, at.method, base+at.path, "", at.body, at.headers...)
		t.Logf("%s: HTTP %d %s", at.name, code, strings.TrimSpace(out))
		if code != at.want {
			t.Errorf("%s: got %d, want %d", at.name, code, at.want)
		}
	}
	in, err := agenttest.ClientAt(t, strings.TrimPrefix(base, "http://")).Services(t.Context())
	if err != nil || len(in) != 1 {
		t.Fatalf("services after the attacks: %v %v", in, err)
	}
}
