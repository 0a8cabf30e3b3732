package agent_test

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/grapevine-sd/grapevine/agent"
	"github.com/grapevine-sd/grapevine/agent/agenttest"
	"github.com/grapevine-sd/grapevine/api"
	"github.com/rs/zerolog"
)

// Secrets of the ACL tests.
const (
	secRead  = "read-secret-0123456789"
	secWeb   = "web-secret-0123456789"
	secAPI   = "api-secret-0123456789"
	secOper  = "oper-secret-0123456789"
	secWrong = "wrong-secret-0123456789"
)

func aclConfig(def string) agent.ACLConfig {
	return agent.ACLConfig{Enabled: true, DefaultPolicy: def, Tokens: []agent.TokenConfig{
		{Name: "reader", Secret: secRead, Policy: "read"},
		{Name: "web-deployer", Secret: secWeb, Policy: "write", Services: []string{"web"}},
		{Name: "api-deployer", Secret: secAPI, Policy: "write", Services: []string{"api-*"}},
		{Name: "ops", Secret: secOper, Policy: "operator"},
	}}
}

// lockedBuffer is a log sink safe for concurrent writers and a reader.
type lockedBuffer = agenttest.LockedBuffer

// call performs one request; token "" sends none. Extra headers: "K: v".
func call(t *testing.T, method, url, token, body string, headers ...string) (int, string) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(t.Context(), method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for _, h := range headers {
		k, v, _ := strings.Cut(h, ": ")
		if k == "Host" {
			req.Host = v
			continue
		}
		req.Header.Set(k, v)
	}
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestACLMatrix(t *testing.T) {
	logs := &lockedBuffer{}
	_, _, base := single(t, func(c *agent.Config) {
		c.ACL = aclConfig("deny")
		c.Logger = zerolog.New(logs)
	})
	reg := func(name string) string { return fmt.Sprintf(`{"name":%q,"id":%q,"port":80}`, name, name+"-1") }
	ttlReg := `{"name":"web","id":"web-ttl","port":80,"checks":[{"id":"web-ttl-check","type":"ttl","ttl":"1m"}]}`
	// Instances the write and maintenance rows act on.
	for _, r := range []string{reg("web"), reg("api-x"), reg("db"), ttlReg} {
		if code, body := call(t, "PUT", base+"/v1/agent/services", secOper, r); code != 200 {
			t.Fatalf("setup %s: %d %s", r, code, body)
		}
	}
	type row struct {
		name, method, path, body string
		want                     map[string]int // token secret ("" none) → status
	}
	all := func(code int) map[string]int {
		return map[string]int{"": 401, secWrong: 401, secRead: code, secWeb: code, secAPI: code, secOper: code}
	}
	rows := []row{
		{"list services", "GET", "/v1/services", "", all(200)},
		{"lookup", "GET", "/v1/services/web", "", all(200)},
		{"self", "GET", "/v1/agent/self", "", all(200)},
		{"members", "GET", "/v1/members", "", all(200)},
		{"instance", "GET", "/v1/instances/node-a/web-1", "", all(200)},
		{"metrics", "GET", "/metrics", "", all(200)},
		{"register web", "PUT", "/v1/agent/services", reg("web"),
			map[string]int{"": 401, secWrong: 401, secRead: 403, secWeb: 200, secAPI: 403, secOper: 200}},
		{"register api-x", "PUT", "/v1/agent/services", reg("api-x"),
			map[string]int{"": 401, secRead: 403, secWeb: 403, secAPI: 200, secOper: 200}},
		{"take over api-x-1 as web", "PUT", "/v1/agent/services", `{"name":"web","id":"api-x-1","port":80}`,
			map[string]int{secWeb: 403}},
		{"exec check", "PUT", "/v1/agent/services", `{"name":"web","id":"web-x","checks":[{"type":"exec","args":["/bin/true"]}]}`,
			map[string]int{secWeb: 403, secOper: 403}},
		{"maintenance db", "PUT", "/v1/agent/services/db-1/maintenance?enable=true", "",
			map[string]int{"": 401, secRead: 403, secWeb: 403, secAPI: 403, secOper: 204}},
		{"maintenance web", "PUT", "/v1/agent/services/web-1/maintenance?enable=false", "",
			map[string]int{secWeb: 204, secAPI: 403}},
		{"ttl web", "PUT", "/v1/agent/checks/web-ttl-check/ttl", `{"status":"passing"}`,
			map[string]int{"": 401, secRead: 403, secWeb: 204, secAPI: 403, secOper: 204}},
		{"ttl unknown", "PUT", "/v1/agent/checks/nope/ttl", `{"status":"passing"}`,
			map[string]int{secWeb: 403, secOper: 404}},
		{"deregister db", "DELETE", "/v1/agent/services/db-1", "",
			map[string]int{"": 401, secWrong: 401, secRead: 403, secWeb: 403, secAPI: 403}},
		{"deregister api-x", "DELETE", "/v1/agent/services/api-x-1", "",
			map[string]int{secWeb: 403, secAPI: 204}},
		{"deregister db by operator", "DELETE", "/v1/agent/services/db-1", "",
			map[string]int{secOper: 204}},
	}
	for _, r := range rows {
		for _, tok := range []string{"", secWrong, secRead, secWeb, secAPI, secOper} {
			want, ok := r.want[tok]
			if !ok {
				continue
			}
			code, body := call(t, r.method, base+r.path, tok, r.body)
			if code != want {
				t.Errorf("%s with token %q: got %d %s, want %d", r.name, tok, code, body, want)
			}
		}
	}
	_, metrics := call(t, "GET", base+"/metrics", secRead, "")
	for _, reason := range []string{"forbidden", "unauthenticated"} {
		line := `grapevine_http_rejected_total{reason="` + reason + `"} `
		if !strings.Contains(metrics, line) || strings.Contains(metrics, line+"0\n") {
			t.Errorf("metrics do not count %s refusals", reason)
		}
	}
	out := logs.String()
	for _, s := range []string{secRead, secWeb, secAPI, secOper, secWrong} {
		if strings.Contains(out, s) {
			t.Errorf("log holds the secret %q", s)
		}
	}
	for _, want := range []string{`"token":"web-deployer"`, `"service":"api-x"`, `"instance":"api-x-1"`, `"result":"refused"`, `"method":"DELETE"`} {
		if !strings.Contains(out, want) {
			t.Errorf("audit log lacks %s", want)
		}
	}
}

func TestACLTokenHeadersAndDefaultAllow(t *testing.T) {
	_, _, base := single(t, func(c *agent.Config) { c.ACL = aclConfig("allow") })
	body := `{"name":"web","port":80}`
	cases := []struct {
		name    string
		method  string
		headers []string
		want    int
	}{
		{"anonymous read", "GET", nil, 200},
		{"anonymous write", "PUT", nil, 401},
		{"x-grapevine-token", "PUT", []string{"X-Grapevine-Token: " + secWeb}, 200},
		{"bearer lowercase scheme", "PUT", []string{"Authorization: bearer " + secWeb}, 200},
		{"basic scheme", "PUT", []string{"Authorization: Basic " + secWeb}, 401},
		{"empty bearer", "PUT", []string{"Authorization: Bearer "}, 401},
		{"unknown token on a read", "GET", []string{"X-Grapevine-Token: " + secWrong}, 401},
		{"bearer wins over header", "PUT", []string{"Authorization: Bearer " + secRead, "X-Grapevine-Token: " + secWeb}, 403},
	}
	for _, c := range cases {
		path := "/v1/services"
		b := ""
		if c.method == "PUT" {
			path, b = "/v1/agent/services", body
		}
		if code, out := call(t, c.method, base+path, "", b, c.headers...); code != c.want {
			t.Errorf("%s: got %d %s, want %d", c.name, code, out, c.want)
		}
	}
}

func TestTokensIgnoredWithoutACL(t *testing.T) {
	_, _, base := single(t)
	for _, h := range []string{"Authorization: Basic dXNlcjpwYXNz", "Authorization: Bearer " + secWrong, "X-Grapevine-Token: a b"} {
		if code, out := call(t, "PUT", base+"/v1/agent/services", "", `{"name":"web"}`, h); code != 200 {
			t.Errorf("%s with the ACL off: got %d %s, want 200", h, code, out)
		}
	}
}

func TestHostAndOrigin(t *testing.T) {
	_, _, base := single(t, func(c *agent.Config) {
		c.HTTPConfig.AllowedHosts = []string{"registry.example.com", "other.example.com:7947", "[2001:db8::1]:80"}
	})
	reg := `{"name":"web","port":80}`
	cases := []struct {
		name    string
		method  string
		headers []string
		want    int
	}{
		{"own address", "PUT", nil, 200},
		{"localhost", "PUT", []string{"Host: localhost:7947"}, 200},
		{"node name", "GET", []string{"Host: node-a"}, 200},
		{"allowed host", "PUT", []string{"Host: registry.example.com:7947"}, 200},
		{"allowed host, upper case, dot", "GET", []string{"Host: REGISTRY.example.com."}, 200},
		{"allowed host given with a port", "GET", []string{"Host: other.example.com"}, 200},
		{"allowed ipv6 address", "GET", []string{"Host: [2001:db8::1]:7947"}, 200},
		{"other loopback", "GET", []string{"Host: 127.0.0.2:7947"}, 200},
		{"ipv6 loopback", "GET", []string{"Host: [::1]:7947"}, 200},
		{"rebinding name", "PUT", []string{"Host: evil.example.com"}, 403},
		{"rebinding name on a read", "GET", []string{"Host: evil.example.com:7947"}, 403},
		{"foreign address", "GET", []string{"Host: 192.0.2.7"}, 403},
		{"cross-site write", "PUT", []string{"Sec-Fetch-Site: cross-site"}, 403},
		{"cross-origin write", "PUT", []string{"Origin: http://evil.example.com"}, 403},
		{"cross-origin read", "GET", []string{"Origin: http://evil.example.com", "Sec-Fetch-Site: cross-site"}, 200},
		{"same-origin write", "PUT", []string{"Sec-Fetch-Site: same-origin"}, 200},
	}
	for _, c := range cases {
		path, b := "/v1/services", ""
		if c.method == "PUT" {
			path, b = "/v1/agent/services", reg
		}
		if code, out := call(t, c.method, base+path, "", b, c.headers...); code != c.want {
			t.Errorf("%s: got %d %s, want %d", c.name, code, out, c.want)
		}
	}
}

// rawConn opens a TCP connection to addr, closed at the end of the test.
func rawConn(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func TestBodyDribbleIsCut(t *testing.T) {
	a, _, _ := single(t, func(c *agent.Config) { c.HTTPConfig.BodyTimeout = 300 * time.Millisecond })
	c := rawConn(t, a.HTTPAddr())
	start := time.Now()
	fmt.Fprintf(c, "PUT /v1/agent/services HTTP/1.1\r\nHost: localhost\r\nContent-Length: 100\r\n\r\n{")
	// Dribble one byte every 50 ms, as long as the server reads.
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-stop:
				return
			case <-time.After(50 * time.Millisecond):
				if _, err := c.Write([]byte(" ")); err != nil {
					return
				}
			}
		}
	}()
	defer func() { close(stop); <-done }()
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("no answer: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestTimeout || !resp.Close {
		t.Errorf("got %d (close %v), want 408 and the connection closed", resp.StatusCode, resp.Close)
	}
	if el := time.Since(start); el > 5*time.Second {
		t.Errorf("cut after %v, want about the body timeout", el)
	}
	// The server closed its side at once (not after reading the rest of the
	// dribble): a read ends.
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	// EOF, or a reset when the dribbler wrote after the close.
	if _, err := c.Read(make([]byte, 1)); !errors.Is(err, io.EOF) && !errors.Is(err, syscall.ECONNRESET) {
		t.Errorf("connection still open after 408: read gave %v, want EOF or a reset", err)
	}
}

func TestBodyTooLarge(t *testing.T) {
	_, _, base := single(t)
	big := `{"name":"web","meta":{"k":"` + strings.Repeat("x", 2<<20) + `"}}`
	if code, out := call(t, "PUT", base+"/v1/agent/services", "", big); code != http.StatusRequestEntityTooLarge {
		t.Errorf("2 MiB body: got %d %s, want 413", code, out)
	}
}

func TestConnectionCaps(t *testing.T) {
	a, _, base := single(t, func(c *agent.Config) {
		c.HTTPConfig.MaxConnsPerClient = 3
		c.HTTPConfig.MaxConns = 5
	})
	var held []net.Conn
	for range 3 {
		held = append(held, rawConn(t, a.HTTPAddr())) // open, idle
	}
	c := rawConn(t, a.HTTPAddr())
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("4th connection: no answer: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusTooManyRequests {
		t.Errorf("4th connection from one client: got %d, want 429", resp.StatusCode)
	}
	c.Close()
	held[0].Close() // scraping the metrics needs a connection

	agenttest.Eventually(t, 15*time.Second, func() (bool, string) {
		tr := &http.Transport{}
		defer tr.CloseIdleConnections()
		resp, err := (&http.Client{Transport: tr}).Get(base + "/metrics")
		if err != nil {
			return false, err.Error()
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		line := `grapevine_http_rejected_total{reason="conn_per_client"} `
		ok := strings.Contains(string(b), line) && !strings.Contains(string(b), line+"0\n")
		return ok, "metrics lack the refused connection"
	})
}

// TestGuardStateIsPerRequest sends requests with different tokens one after
// the other on one keep-alive connection (whose requests share the guard's
// per-connection writer): each is judged and audited by its own token only.
func TestGuardStateIsPerRequest(t *testing.T) {
	logs := &lockedBuffer{}
	a, _, _ := single(t, func(c *agent.Config) {
		c.ACL = aclConfig("deny")
		c.Logger = zerolog.New(logs)
	})
	conn, err := net.Dial("tcp", a.HTTPAddr())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	br := bufio.NewReader(conn)
	steps := []struct {
		method, path, token, body string
		want                      int
	}{
		{"PUT", "/v1/agent/services", secWeb, `{"name":"web","id":"web-1","port":80}`, 200},
		{"PUT", "/v1/agent/services", "", `{"name":"web","id":"web-2","port":80}`, 401},
		{"GET", "/v1/services/web", secOper, "", 200},
		{"GET", "/v1/services/web", "", "", 401},
		{"GET", "/v1/operator/keyring", secOper, "", 409}, // allowed; gossip has no keyring
		{"GET", "/v1/operator/keyring", secRead, "", 403},
		{"GET", "/v1/operator/keyring", "", "", 401},
		{"DELETE", "/v1/agent/services/web-1", secAPI, "", 403},
		{"GET", "/v1/nope", secRead, "", 404},
		{"DELETE", "/v1/agent/services/web-1", secWeb, "", 204},
		{"GET", "/v1/services/web", secRead, "", 200},
	}
	for i, s := range steps {
		req, err := http.NewRequest(s.method, "http://"+a.HTTPAddr()+s.path, strings.NewReader(s.body))
		if err != nil {
			t.Fatal(err)
		}
		if s.token != "" {
			req.Header.Set("Authorization", "Bearer "+s.token)
		}
		_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
		if err := req.Write(conn); err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
		resp, err := http.ReadResponse(br, req)
		if err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != s.want || resp.Close {
			t.Errorf("step %d %s %s token %q: %d (close %v) %s, want %d on the same connection", i, s.method, s.path, s.token, resp.StatusCode, resp.Close, body, s.want)
		}
	}
	var audit []string
	for _, line := range strings.Split(logs.String(), "\n") {
		if strings.Contains(line, `"audit":"write"`) {
			var m struct{ Token, Method, Path, Service string }
			if err := json.Unmarshal([]byte(line), &m); err != nil {
				t.Fatal(err)
			}
			audit = append(audit, fmt.Sprintf("%s %s %s %s", m.Token, m.Method, m.Path, m.Service))
		}
	}
	want := []string{
		"web-deployer PUT /v1/agent/services web",
		"anonymous PUT /v1/agent/services ",
		"ops GET /v1/operator/keyring ",
		"reader GET /v1/operator/keyring ",
		"anonymous GET /v1/operator/keyring ",
		"api-deployer DELETE /v1/agent/services/web-1 web",
		"web-deployer DELETE /v1/agent/services/web-1 web",
	}
	if !slices.Equal(audit, want) {
		t.Errorf("audit lines\n%s\nwant\n%s", strings.Join(audit, "\n"), strings.Join(want, "\n"))
	}
}

// TestHTTPMetricsRoutes checks the route label of the request metrics: the
// pattern of the route that answered, "unmatched" for everything else (a
// 404, a 405, the mux's redirect of an unclean path: clients choose those
// paths, and must not grow the label set), on both listeners.
func TestHTTPMetricsRoutes(t *testing.T) {
	a, consul := startConsulAgent(t, "node-a", nil)
	base := "http://" + a.HTTPAddr()
	for _, r := range []struct {
		url    string
		method string
		want   int
	}{
		{base + "/v1/services/web", "GET", 200},
		{base + "/v1/services/web", "GET", 200},
		{base + "/v1/services", "POST", 405},
		{base + "/v1/nope-a", "GET", 404},
		{base + "/v1/nope-b", "GET", 404},
		{base + "/v1//services/../services/web", "GET", 307},
		{base + "/ui/nope.css", "GET", 404},
		{base + "/", "GET", 302},
		{consul + "/v1/health/service/web", "GET", 200},
		{consul + "/v1/nope", "GET", 404},
	} {
		req, err := http.NewRequestWithContext(t.Context(), r.method, r.url, nil)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := http.DefaultTransport.RoundTrip(req) // no redirects followed
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != r.want {
			t.Fatalf("%s %s: %d %s, want %d", r.method, r.url, resp.StatusCode, b, r.want)
		}
		if r.want == 404 && strings.HasPrefix(r.url, base+"/v1/") && !strings.HasPrefix(string(b), `{"error":`) {
			t.Errorf("%s: not a JSON error: %s", r.url, b)
		}
	}
	http.DefaultTransport.(*http.Transport).CloseIdleConnections()
	_, metrics := call(t, "GET", base+"/metrics", "", "")
	var got []string
	for _, line := range strings.Split(metrics, "\n") {
		if strings.HasPrefix(line, "grapevine_http_requests_total{") && !strings.HasSuffix(line, " 0") { // a route's 200 series exists from its first request
			got = append(got, line)
		}
	}
	want := []string{
		`grapevine_http_requests_total{code="200",route="GET /v1/services/{name}"} 2`,
		`grapevine_http_requests_total{code="200",route="consul GET /v1/health/service/{name}"} 1`,
		`grapevine_http_requests_total{code="302",route="GET /{$}"} 1`,
		`grapevine_http_requests_total{code="307",route="unmatched"} 1`,
		`grapevine_http_requests_total{code="404",route="GET /ui/{file...}"} 1`,
		`grapevine_http_requests_total{code="404",route="consul unmatched"} 1`,
		`grapevine_http_requests_total{code="404",route="unmatched"} 2`,
		`grapevine_http_requests_total{code="405",route="unmatched"} 1`,
	}
	if !slices.Equal(got, want) {
		t.Errorf("request metrics\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// TestCachedAnswersStable asks the cached lookups of both listeners twice
// around a change: the same bytes and index while nothing changed (also with
// ?pretty and ?hash), a new answer and index after.
func TestCachedAnswersStable(t *testing.T) {
	a, consul := startConsulAgent(t, "node-a", nil)
	c := agenttest.Client(t, a)
	base := "http://" + a.HTTPAddr()
	for i, q := range []struct{ url, index string }{
		{base + "/v1/services/web", api.IndexHeader},
		{consul + "/v1/health/service/web", "X-Consul-Index"},
		{consul + "/v1/health/service/web?passing", "X-Consul-Index"},
		{consul + "/v1/catalog/service/web?pretty", "X-Consul-Index"},
		{consul + "/v1/health/service/web?hash=x&wait=1ms", "X-Consul-ContentHash"},
	} {
		mustRegister(t, c, api.Registration{ID: "web-" + strconv.Itoa(i), Name: "web", Port: 80})
		r1 := rawString(t, "GET", q.url, "")
		r2 := rawString(t, "GET", q.url, "")
		if r1.code != 200 || r1.body != r2.body || r1.header.Get(q.index) == "" || r1.header.Get(q.index) != r2.header.Get(q.index) || !strings.HasSuffix(r1.body, "]\n") {
			t.Errorf("%s twice: %d %s=%q %q, then %s=%q %q", q.url, r1.code, q.index, r1.header.Get(q.index), r1.body, q.index, r2.header.Get(q.index), r2.body)
		}
		mustRegister(t, c, api.Registration{ID: "web-x" + strconv.Itoa(i), Name: "web", Port: 81})
		r3 := rawString(t, "GET", q.url, "")
		if r3.body == r1.body || r3.header.Get(q.index) == r1.header.Get(q.index) {
			t.Errorf("%s after a change: %s=%q %q", q.url, q.index, r3.header.Get(q.index), r3.body)
		}
	}
}

// The Host check holds for every request of a kept-alive connection, not
// only its first (the guard skips the check for a Host it allowed last).
func TestHostCheckedPerRequestOnOneConnection(t *testing.T) {
	a, _, _ := single(t)
	c := rawConn(t, a.HTTPAddr())
	br := bufio.NewReader(c)
	_ = c.SetDeadline(time.Now().Add(15 * time.Second))
	for i, tc := range []struct {
		host string
		code int
	}{{"localhost", 200}, {"localhost", 200}, {"evil.example", 403}, {"localhost", 200}, {"127.0.0.1:80.evil.example", 403}} {
		fmt.Fprintf(c, "GET /v1/agent/self HTTP/1.1\r\nHost: %s\r\n\r\n", tc.host)
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tc.code {
			t.Errorf("request %d with Host %s: %d, want %d", i, tc.host, resp.StatusCode, tc.code)
		}
	}
}
