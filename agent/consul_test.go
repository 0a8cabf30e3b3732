package agent_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/grapevine-sd/grapevine/agent"
	"github.com/grapevine-sd/grapevine/agent/agenttest"
	"github.com/grapevine-sd/grapevine/api"
)

// startConsulAgent starts an agent with the Consul-compatible listener on an
// ephemeral port and returns its base URL.
func startConsulAgent(t *testing.T, name string, edit func(*agent.Config)) (*agent.Agent, string) {
	t.Helper()
	cfg := agenttest.Config(t, name)
	cfg.Consul.HTTP = "127.0.0.1:0"
	if edit != nil {
		edit(&cfg)
	}
	a := agenttest.Start(t, cfg)
	return a, "http://" + a.ConsulAddr()
}

func putJSON(t *testing.T, url, body string) rawResponse {
	t.Helper()
	return raw(t, http.MethodPut, url, strings.NewReader(body))
}

// decodeInto decodes a JSON body, failing the test on error.
func decodeInto(t *testing.T, body string, v any) {
	t.Helper()
	if err := json.Unmarshal([]byte(body), v); err != nil {
		t.Fatalf("decode %q: %v", body, err)
	}
}

func TestConsulRegisterAndRead(t *testing.T) {
	a, base := startConsulAgent(t, "c1", func(c *agent.Config) { c.Zone = "z1" })
	reg := `{"ID":"web-1","Name":"web","Tags":["v1","primary"],"Address":"127.0.0.1","Port":8080,
		"Meta":{"version":"1.2"},"Weights":{"Passing":10,"Warning":1},
		"Check":{"TTL":"30s","Status":"passing","Notes":"beats"}}`
	if r := putJSON(t, base+"/v1/agent/service/register", reg); r.code != 200 || r.body != "" {
		t.Fatalf("register: %d %q", r.code, r.body)
	}
	r := raw(t, "GET", base+"/v1/health/service/web", nil)
	if r.code != 200 {
		t.Fatalf("health/service: %d %s", r.code, r.body)
	}
	for _, h := range []string{"X-Consul-Index", "X-Consul-KnownLeader", "X-Consul-LastContact"} {
		if r.header.Get(h) == "" {
			t.Errorf("header %s missing", h)
		}
	}
	if r.header.Get("X-Consul-KnownLeader") != "true" || r.header.Get("X-Consul-LastContact") != "0" {
		t.Errorf("fresh answer: KnownLeader %q LastContact %q, want true 0", r.header.Get("X-Consul-KnownLeader"), r.header.Get("X-Consul-LastContact"))
	}
	var entries []struct {
		Node    struct{ Node, Address, Datacenter string }
		Service struct {
			ID, Service, Address string
			Port                 int
			Tags                 []string
			Meta                 map[string]string
		}
		Checks []struct{ CheckID, Status, ServiceID string }
	}
	decodeInto(t, r.body, &entries)
	if len(entries) != 1 {
		t.Fatalf("got %d entries, want 1: %s", len(entries), r.body)
	}
	e := entries[0]
	if e.Node.Node != "c1" || e.Node.Address != "127.0.0.1" || e.Node.Datacenter != "dc1" ||
		e.Service.ID != "web-1" || e.Service.Port != 8080 || e.Service.Meta["version"] != "1.2" || len(e.Service.Tags) != 2 {
		t.Errorf("entry = %+v", e)
	}
	if len(e.Checks) != 2 || e.Checks[0].CheckID != "serfHealth" || e.Checks[1].CheckID != "service:web-1" || e.Checks[1].Status != "passing" {
		t.Errorf("checks = %+v", e.Checks)
	}

	// agent/checks shows the real TTL check with Consul's default ID.
	r = raw(t, "GET", base+"/v1/agent/checks", nil)
	var checks map[string]struct{ CheckID, Status, Notes, Type, ServiceID string }
	decodeInto(t, r.body, &checks)
	if c := checks["service:web-1"]; c.Status != "passing" || c.Notes != "beats" || c.Type != "ttl" || c.ServiceID != "web-1" {
		t.Errorf("agent/checks = %s", r.body)
	}

	// TTL fail, then the service is excluded by ?passing.
	if r := raw(t, "PUT", base+"/v1/agent/check/fail/service:web-1?note=db+down", nil); r.code != 200 {
		t.Fatalf("check/fail: %d %s", r.code, r.body)
	}
	agenttest.Eventually(t, 15*time.Second, func() (bool, string) {
		r := raw(t, "GET", base+"/v1/health/service/web?passing", nil)
		return r.body == "[]\n", r.body
	})
	if r := raw(t, "GET", base+"/v1/health/service/web", nil); !strings.Contains(r.body, `"Status":"critical"`) || !strings.Contains(r.body, "db down") {
		t.Errorf("critical instance: %s", r.body)
	}
	if r := raw(t, "GET", base+"/v1/agent/health/service/id/web-1?format=text", nil); r.code != 503 || r.body != "critical" {
		t.Errorf("agent/health/service/id critical: %d %q", r.code, r.body)
	}
	if r := raw(t, "GET", base+"/v1/agent/health/service/name/web", nil); r.code != 503 || !strings.Contains(r.body, `"AggregatedStatus":"critical"`) {
		t.Errorf("agent/health/service/name critical: %d %s", r.code, r.body)
	}
	if r := raw(t, "GET", base+"/v1/agent/health/service/id/nope", nil); r.code != 404 {
		t.Errorf("agent/health/service/id unknown: %d", r.code)
	}
	if r := putJSON(t, base+"/v1/agent/check/update/service:web-1", `{"Status":"passing","Output":"ok again"}`); r.code != 200 {
		t.Fatalf("check/update: %d %s", r.code, r.body)
	}
	agenttest.Eventually(t, 15*time.Second, func() (bool, string) {
		r := raw(t, "GET", base+"/v1/health/service/web?passing=1&tag=v1&tag=primary", nil)
		return strings.Contains(r.body, `"web-1"`), r.body
	})
	if r := raw(t, "GET", base+"/v1/health/service/web?passing&tag=v2", nil); r.body != "[]\n" {
		t.Errorf("tag v2: %s", r.body)
	}

	// catalog
	r = raw(t, "GET", base+"/v1/catalog/services", nil)
	var svcs map[string][]string
	decodeInto(t, r.body, &svcs)
	if got := fmt.Sprint(svcs["web"]); got != "[primary v1]" {
		t.Errorf("catalog/services web = %s (%s)", got, r.body)
	}
	r = raw(t, "GET", base+"/v1/catalog/service/web?node-meta=zone:z1", nil)
	if !strings.Contains(r.body, `"ServiceID":"web-1"`) || !strings.Contains(r.body, `"ServicePort":8080`) {
		t.Errorf("catalog/service: %s", r.body)
	}
	if r := raw(t, "GET", base+"/v1/catalog/service/web?node-meta=zone:z2", nil); r.body != "[]\n" {
		t.Errorf("node-meta zone:z2: %s", r.body)
	}
	if r := raw(t, "GET", base+"/v1/catalog/nodes", nil); !strings.Contains(r.body, `"Node":"c1"`) {
		t.Errorf("catalog/nodes: %s", r.body)
	}
	if r := raw(t, "GET", base+"/v1/catalog/node/c1", nil); !strings.Contains(r.body, `"web-1":{`) {
		t.Errorf("catalog/node: %s", r.body)
	}
	if r := raw(t, "GET", base+"/v1/catalog/node/nobody", nil); r.code != 200 || r.body != "null\n" {
		t.Errorf("catalog/node unknown: %d %s", r.code, r.body)
	}
	if r := raw(t, "GET", base+"/v1/catalog/datacenters", nil); r.body != "[\"dc1\"]\n" {
		t.Errorf("datacenters: %s", r.body)
	}
	if r := raw(t, "GET", base+"/v1/health/node/c1", nil); !strings.Contains(r.body, `"serfHealth"`) || !strings.Contains(r.body, `"service:web-1"`) {
		t.Errorf("health/node: %s", r.body)
	}
	if r := raw(t, "GET", base+"/v1/health/checks/web", nil); !strings.Contains(r.body, `"service:web-1"`) || strings.Contains(r.body, "serfHealth") {
		t.Errorf("health/checks: %s", r.body)
	}
	if r := raw(t, "GET", base+"/v1/health/state/critical", nil); r.body != "[]\n" {
		t.Errorf("health/state/critical: %s", r.body)
	}
	if r := raw(t, "GET", base+"/v1/health/state/bogus", nil); r.code != 400 {
		t.Errorf("health/state/bogus: %d", r.code)
	}
	if r := raw(t, "GET", base+"/v1/agent/service/web-1", nil); !strings.Contains(r.body, `"Service":"web"`) || r.header.Get("X-Consul-ContentHash") == "" {
		t.Errorf("agent/service: %s", r.body)
	}
	if r := raw(t, "GET", base+"/v1/agent/service/none", nil); r.code != 404 {
		t.Errorf("agent/service unknown: %d", r.code)
	}
	if r := raw(t, "GET", base+"/v1/agent/self", nil); !strings.Contains(r.body, `"Datacenter":"dc1"`) || !strings.Contains(r.body, `"NodeName":"c1"`) {
		t.Errorf("agent/self: %s", r.body)
	}
	if r := raw(t, "GET", base+"/v1/agent/members", nil); !strings.Contains(r.body, `"Name":"c1"`) || !strings.Contains(r.body, `"Status":1`) {
		t.Errorf("agent/members: %s", r.body)
	}
	if r := raw(t, "GET", base+"/v1/status/leader", nil); !strings.HasPrefix(r.body, `"127.0.0.1:`) {
		t.Errorf("status/leader: %s", r.body)
	}

	// ?pretty indents, also an answer served from the cache (asked twice).
	for range 2 {
		if r := raw(t, "GET", base+"/v1/health/service/web?pretty", nil); !strings.Contains(r.body, "\n    {") {
			t.Errorf("pretty: %s", r.body)
		}
	}
	// dc: the datacenter, a zone, or refused.
	if r := raw(t, "GET", base+"/v1/health/service/web?dc=dc1", nil); !strings.Contains(r.body, "web-1") {
		t.Errorf("dc=dc1: %s", r.body)
	}
	if r := raw(t, "GET", base+"/v1/health/service/web?dc=z1", nil); !strings.Contains(r.body, "web-1") {
		t.Errorf("dc=z1: %s", r.body)
	}
	if r := raw(t, "GET", base+"/v1/health/service/web?dc=mars", nil); r.code != 400 || !strings.Contains(r.body, "No path to datacenter") {
		t.Errorf("dc=mars: %d %s", r.code, r.body)
	}

	// maintenance, then deregister.
	if r := raw(t, "PUT", base+"/v1/agent/service/maintenance/web-1?enable=true&reason=upgrade", nil); r.code != 200 {
		t.Fatalf("maintenance: %d %s", r.code, r.body)
	}
	r = raw(t, "GET", base+"/v1/health/service/web", nil)
	if !strings.Contains(r.body, `"_service_maintenance:web-1"`) || !strings.Contains(r.body, "upgrade") {
		t.Errorf("maintenance check: %s", r.body)
	}
	if r := raw(t, "PUT", base+"/v1/agent/service/maintenance/web-1", nil); r.code != 400 {
		t.Errorf("maintenance without enable: %d", r.code)
	}
	if r := raw(t, "PUT", base+"/v1/agent/service/deregister/web-1", nil); r.code != 200 {
		t.Fatalf("deregister: %d %s", r.code, r.body)
	}
	if r := raw(t, "PUT", base+"/v1/agent/service/deregister/web-1", nil); r.code != 404 {
		t.Errorf("deregister again: %d", r.code)
	}
	if _, ok := a.Catalog().Instance("c1", "web-1"); ok {
		t.Errorf("web-1 still registered")
	}
}

func TestConsulRegisterRefusals(t *testing.T) {
	_, base := startConsulAgent(t, "c1", nil)
	tests := []struct {
		name, body string
		code       int
		want       string
	}{
		{"not json", `{`, 400, "want a JSON object"},
		{"no name", `{"ID":"x"}`, 400, "Name is required"},
		{"unknown field", `{"Name":"x","Colour":"red"}`, 400, `unsupported field "colour"`},
		{"connect", `{"Name":"x","Connect":{"Native":true}}`, 400, "connect is not supported"},
		{"proxy kind", `{"Name":"x","Kind":"connect-proxy"}`, 400, "Connect proxies"},
		{"two kinds", `{"Name":"x","Check":{"TTL":"10s","TCP":"127.0.0.1:1"}}`, 400, "only one of"},
		{"no kind", `{"Name":"x","Check":{"Interval":"10s"}}`, 400, "needs one of"},
		{"body", `{"Name":"x","Check":{"HTTP":"http://127.0.0.1:1/","Body":"x"}}`, 400, "body is not supported"},
		{"exec over http", `{"Name":"x","Check":{"Args":["/bin/true"],"Interval":"10s"}}`, 403, "Scripts are disabled"},
		{"bad status", `{"Name":"x","Check":{"TTL":"10s","Status":"green"}}`, 400, `Status "green"`},
		{"bad port", `{"Name":"x","Port":70000}`, 400, "port"},
		{"bad url", `{"Name":"x","Check":{"HTTP":"ftp://x/"}}`, 400, "http:// or https://"},
		{"namespace", `{"Name":"x","Namespace":"team-a"}`, 400, "only the default"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := putJSON(t, base+"/v1/agent/service/register", tt.body)
			if r.code != tt.code || !strings.Contains(r.body, tt.want) {
				t.Errorf("got %d %q, want %d containing %q", r.code, r.body, tt.code, tt.want)
			}
		})
	}
	if r := raw(t, "GET", base+"/v1/catalog/services", nil); r.body != "{}\n" {
		t.Errorf("a refused registration changed the catalog: %s", r.body)
	}
	// Fields a client sends with zero values are ignored, known or not.
	if r := putJSON(t, base+"/v1/agent/service/register", `{"Name":"x","Colour":null,"Script":"","SidecarService":{},"Connect":null,"Check":{"TTL":"10s","Body":"","Shell":null}}`); r.code != 200 {
		t.Errorf("zero-valued extra fields: %d %s", r.code, r.body)
	}
	if r := raw(t, "POST", base+"/v1/agent/service/deregister/x", nil); r.code != 405 {
		t.Errorf("POST deregister: %d, want 405", r.code)
	}
	if r := raw(t, "GET", base+"/v1/kv/foo", nil); r.code != 404 {
		t.Errorf("kv: %d, want 404", r.code)
	}
	if r := raw(t, "GET", base+"/v1/health/service/web?index=abc", nil); r.code != 400 {
		t.Errorf("bad index: %d", r.code)
	}
}

// TestConsulBlocking: a blocking query returns when the service changes,
// with a higher X-Consul-Index, and after wait when nothing changes.
func TestConsulBlocking(t *testing.T) {
	_, base := startConsulAgent(t, "c1", nil)
	r := raw(t, "GET", base+"/v1/health/service/api", nil)
	idx, err := strconv.ParseUint(r.header.Get("X-Consul-Index"), 10, 64)
	if err != nil || idx == 0 {
		t.Fatalf("index %q", r.header.Get("X-Consul-Index"))
	}
	start := time.Now()
	r = raw(t, "GET", fmt.Sprintf("%s/v1/health/service/api?index=%d&wait=300ms", base, idx), nil)
	if el := time.Since(start); el < 250*time.Millisecond || r.body != "[]\n" {
		t.Errorf("unchanged: returned after %v with %s", el, r.body)
	}
	type result struct {
		r  rawResponse
		at time.Time
	}
	done := make(chan result, 1)
	go func() {
		r := raw(t, "GET", fmt.Sprintf("%s/v1/health/service/api?index=%d&wait=30s", base, idx), nil)
		done <- result{r, time.Now()}
	}()
	time.Sleep(100 * time.Millisecond) // let it block (not a correctness wait: either order passes)
	changed := time.Now()
	if r := putJSON(t, base+"/v1/agent/service/register", `{"Name":"api","Port":9000}`); r.code != 200 {
		t.Fatal(r.body)
	}
	select {
	case res := <-done:
		got, _ := strconv.ParseUint(res.r.header.Get("X-Consul-Index"), 10, 64)
		if got <= idx || !strings.Contains(res.r.body, `"api"`) {
			t.Errorf("after change: index %d (was %d), body %s", got, idx, res.r.body)
		}
		t.Logf("blocking query returned %v after the change", res.at.Sub(changed))
	case <-time.After(10 * time.Second):
		t.Fatal("blocking query did not return on a change")
	}
	// A change of another service does not wake a query on this one.
	r = raw(t, "GET", base+"/v1/health/service/api", nil)
	apiIdx := r.header.Get("X-Consul-Index")
	other := make(chan error, 1)
	go func() {
		time.Sleep(50 * time.Millisecond) // while the query below blocks
		req, _ := http.NewRequest(http.MethodPut, base+"/v1/agent/service/register", strings.NewReader(`{"Name":"other","Port":1}`))
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
		}
		other <- err
	}()
	defer func() {
		if err := <-other; err != nil {
			t.Errorf("registering other: %v", err)
		}
	}()
	start = time.Now()
	r = raw(t, "GET", base+"/v1/health/service/api?index="+apiIdx+"&wait=400ms", nil)
	if time.Since(start) < 350*time.Millisecond || r.header.Get("X-Consul-Index") != apiIdx {
		t.Errorf("a change of another service woke the query after %v (index %s, was %s)", time.Since(start), r.header.Get("X-Consul-Index"), apiIdx)
	}
	// A global endpoint blocks too, and an index from the future answers at once.
	r = raw(t, "GET", base+"/v1/catalog/services", nil)
	gidx := r.header.Get("X-Consul-Index")
	start = time.Now()
	r = raw(t, "GET", base+"/v1/catalog/services?index="+gidx+"&wait=200ms", nil)
	if time.Since(start) < 150*time.Millisecond {
		t.Errorf("catalog/services did not block")
	}
	start = time.Now()
	raw(t, "GET", base+"/v1/catalog/services?index=99999999&wait=9s", nil) // raw gives up after 10 s
	if time.Since(start) > 5*time.Second {
		t.Errorf("an index from the future blocked")
	}
	// hash-based blocking on agent/service/:id
	r = raw(t, "GET", base+"/v1/agent/service/api", nil)
	h := r.header.Get("X-Consul-ContentHash")
	start = time.Now()
	raw(t, "GET", base+"/v1/agent/service/api?hash="+h+"&wait=200ms", nil)
	if time.Since(start) < 150*time.Millisecond {
		t.Errorf("hash query did not block")
	}
}

func TestConsulFilter(t *testing.T) {
	_, base := startConsulAgent(t, "c1", nil)
	for _, reg := range []string{
		`{"ID":"a","Name":"web","Tags":["blue"],"Meta":{"v":"1"},"Port":1}`,
		`{"ID":"b","Name":"web","Tags":["green"],"Meta":{"v":"2"},"Port":2}`,
	} {
		if r := putJSON(t, base+"/v1/agent/service/register", reg); r.code != 200 {
			t.Fatal(r.body)
		}
	}
	tests := []struct {
		path, filter string
		code         int
		want, not    string
	}{
		{"/v1/health/service/web", `"blue" in Service.Tags`, 200, `"ID":"a"`, `"ID":"b"`},
		{"/v1/health/service/web", `Service.Meta.v == "2"`, 200, `"ID":"b"`, `"ID":"a"`},
		{"/v1/health/service/web", `Service.Tags contains "blue" or Service.Port == 2`, 200, `"ID":"b"`, "zzz"},
		{"/v1/health/service/web", `not (Service.ID == "a")`, 200, `"ID":"b"`, `"ID":"a"`},
		{"/v1/catalog/service/web", `ServiceMeta["v"] != "1"`, 200, `"ServiceID":"b"`, `"ServiceID":"a"`},
		{"/v1/agent/services", `Tags is empty`, 200, "{}", `"a"`},
		{"/v1/health/service/web", `Service.Colour == "x"`, 400, "not valid", ""},
		{"/v1/health/service/web", `Service.ID matches "a.*"`, 400, "not supported", ""},
		{"/v1/health/service/web", `Service.ID ==`, 400, "boolean expression", ""},
		{"/v1/catalog/services", `ServiceName == "web"`, 400, "not supported on this endpoint", ""},
		{"/v1/status/leader", `x == "y"`, 400, "not supported on this endpoint", ""},
		{"/v1/agent/health/service/name/web", `x == "y"`, 400, "not supported on this endpoint", ""},
	}
	for _, tt := range tests {
		r := raw(t, "GET", base+tt.path+"?filter="+urlQueryEscape(tt.filter), nil)
		if r.code != tt.code || !strings.Contains(r.body, tt.want) || (tt.not != "" && strings.Contains(r.body, tt.not)) {
			t.Errorf("%s filter %q: %d %s", tt.path, tt.filter, r.code, r.body)
		}
	}
}

func urlQueryEscape(s string) string {
	r := strings.NewReplacer(" ", "%20", `"`, "%22", "#", "%23", "&", "%26", "+", "%2B", "[", "%5B", "]", "%5D")
	return r.Replace(s)
}

// TestConsulDefinitionFiles: Consul-form files in config_dir, with the
// check kinds mapped onto probes; exec checks are allowed from files.
func TestConsulDefinitionFiles(t *testing.T) {
	dir := t.TempDir()
	files := map[string]string{
		"web.json": `{"service": {"name": "web", "id": "web-1", "port": 8080, "tags": ["a"],
			"check": {"id": "web-tcp", "tcp": "127.0.0.1:1", "interval": "10s", "timeout": "1s",
				"deregister_critical_service_after": "90m", "failures_before_critical": 3, "success_before_passing": 2}}}`,
		"more.json": `{"services": [
			{"Name": "db", "Port": 5432, "Checks": [
				{"CheckID": "db-script", "Args": ["/bin/true"], "Interval": "30s"},
				{"Name": "db-http", "HTTP": "http://127.0.0.1:1/health", "Method": "HEAD", "Header": {"X-A": ["1", "2"]}, "Interval": "500ms", "TLSSkipVerify": true}
			]},
			{"Name": "rpc", "Port": 9090, "Check": {"GRPC": "127.0.0.1:9090/rpc.v1", "GRPCUseTLS": true, "TLSSkipVerify": true, "Interval": "5s", "Timeout": "10s"}}
		]}`,
	}
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	_, base := startConsulAgent(t, "c1", func(c *agent.Config) { c.ConfigDir = dir })
	r := raw(t, "GET", base+"/v1/agent/checks", nil)
	var checks map[string]struct {
		Name, Type string
		Definition struct {
			HTTP, TCP, GRPC, Interval, Timeout, DeregisterCriticalServiceAfter string
			GRPCUseTLS, TLSSkipVerify                                          bool
			Header                                                             map[string][]string
			ScriptArgs                                                         []string
		}
	}
	decodeInto(t, r.body, &checks)
	if c := checks["web-tcp"]; c.Type != "tcp" || c.Definition.TCP != "127.0.0.1:1" || c.Definition.DeregisterCriticalServiceAfter != "1h30m0s" || c.Definition.Timeout != "1s" {
		t.Errorf("web-tcp = %+v", c)
	}
	if c := checks["db-script"]; c.Type != "script" || len(c.Definition.ScriptArgs) != 1 {
		t.Errorf("db-script = %+v", c)
	}
	if c := checks["service:db:2"]; c.Type != "http" || c.Name != "db-http" || c.Definition.Interval != "1s" || c.Definition.Header["X-A"][0] != "1, 2" || !c.Definition.TLSSkipVerify {
		t.Errorf("service:db:2 = %+v (%s)", c, r.body)
	}
	if c := checks["service:rpc"]; c.Type != "grpc" || !c.Definition.GRPCUseTLS || c.Definition.Timeout != "4.5s" {
		t.Errorf("service:rpc = %+v", c)
	}
}

// TestConsulTokens: the Consul listener takes the agent's tokens from
// X-Consul-Token, ?token= and Authorization: Bearer, with the native API's
// policies (write tokens scoped to services).
func TestConsulTokens(t *testing.T) {
	_, base := startConsulAgent(t, "c1", func(c *agent.Config) {
		c.ACL = agent.ACLConfig{Enabled: true, Tokens: []agent.TokenConfig{
			{Name: "reader", Secret: "reader-secret-0123456789", Policy: "read"},
			{Name: "web-writer", Secret: "writer-secret-0123456789", Policy: "write", Services: []string{"web"}},
		}}
	})
	do := func(method, path, body string, hdr map[string]string) rawResponse {
		req, err := http.NewRequestWithContext(t.Context(), method, base+path, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b := new(strings.Builder)
		_, _ = io.Copy(b, resp.Body)
		return rawResponse{code: resp.StatusCode, header: resp.Header, body: b.String()}
	}
	web, db := `{"Name":"web","Port":1}`, `{"Name":"db","Port":2}`
	tests := []struct {
		name, method, path, body string
		hdr                      map[string]string
		code                     int
	}{
		{"no token read", "GET", "/v1/catalog/services", "", nil, 401},
		{"bad token", "GET", "/v1/catalog/services", "", map[string]string{"X-Consul-Token": "nope-nope-nope"}, 401},
		{"reader header", "GET", "/v1/catalog/services", "", map[string]string{"X-Consul-Token": "reader-secret-0123456789"}, 200},
		{"reader query", "GET", "/v1/catalog/services?token=reader-secret-0123456789", "", nil, 200},
		{"reader bearer", "GET", "/v1/health/service/web", "", map[string]string{"Authorization": "Bearer reader-secret-0123456789"}, 200},
		{"reader writes", "PUT", "/v1/agent/service/register", web, map[string]string{"X-Consul-Token": "reader-secret-0123456789"}, 403},
		{"writer own service", "PUT", "/v1/agent/service/register", web, map[string]string{"X-Consul-Token": "writer-secret-0123456789"}, 200},
		{"writer other service", "PUT", "/v1/agent/service/register?token=writer-secret-0123456789", db, nil, 403},
		{"writer leave", "PUT", "/v1/agent/leave", "", map[string]string{"X-Consul-Token": "writer-secret-0123456789"}, 403},
		{"writer deregisters own", "PUT", "/v1/agent/service/deregister/web", "", map[string]string{"X-Consul-Token": "writer-secret-0123456789"}, 200},
	}
	for _, tt := range tests {
		if r := do(tt.method, tt.path, tt.body, tt.hdr); r.code != tt.code {
			t.Errorf("%s: %d %s, want %d", tt.name, r.code, r.body, tt.code)
		}
	}
	if r := do("GET", "/v1/catalog/nodes", "", map[string]string{"X-Consul-Token": "reader-secret-0123456789"}); r.header.Get("X-Consul-Default-ACL-Policy") != "deny" {
		t.Errorf("X-Consul-Default-ACL-Policy = %q, want deny", r.header.Get("X-Consul-Default-ACL-Policy"))
	}
}

// TestConsulStaleness: when an agent crashes, another keeps serving its
// instances during the lease grace, and says so: KnownLeader false,
// LastContact the age of the oldest stale record, serfHealth's output.
func TestConsulStaleness(t *testing.T) {
	a, baseA := startConsulAgent(t, "owner", nil)
	b, baseB := startConsulAgent(t, "reader", func(c *agent.Config) { c.Leases.Grace = time.Minute })
	if _, err := b.Node().Join(t.Context(), []string{agenttest.GossipAddr(t, a)}); err != nil {
		t.Fatal(err)
	}
	if r := putJSON(t, baseA+"/v1/agent/service/register", `{"ID":"s1","Name":"svc","Port":7}`); r.code != 200 {
		t.Fatal(r.body)
	}
	agenttest.Eventually(t, 15*time.Second, func() (bool, string) {
		r := raw(t, "GET", baseB+"/v1/health/service/svc", nil)
		return strings.Contains(r.body, `"s1"`) && r.header.Get("X-Consul-KnownLeader") == "true", r.body
	})
	a.Close() // a crash as peers see it: no leave
	agenttest.Eventually(t, 20*time.Second, func() (bool, string) {
		r := raw(t, "GET", baseB+"/v1/health/service/svc?passing", nil)
		last, _ := strconv.Atoi(r.header.Get("X-Consul-LastContact"))
		return strings.Contains(r.body, `"s1"`) && r.header.Get("X-Consul-KnownLeader") == "false" && last > 0 &&
				strings.Contains(r.body, "Agent not reachable for"),
			fmt.Sprintf("%s %v", r.body, r.header)
	})
	// health/node tells the same story as health/service.
	if r := raw(t, "GET", baseB+"/v1/health/node/owner", nil); !strings.Contains(r.body, "Agent not reachable for") || r.header.Get("X-Consul-KnownLeader") != "false" {
		t.Errorf("health/node of a failed agent: %s", r.body)
	}
}

// TestConsulLeave: agent/leave leaves the cluster and asks the owner to shut
// the agent down.
func TestConsulLeave(t *testing.T) {
	a, base := startConsulAgent(t, "c1", nil)
	select {
	case <-a.ShutdownRequested():
		t.Fatal("shutdown requested before leave")
	default:
	}
	if r := raw(t, "PUT", base+"/v1/agent/leave", nil); r.code != 200 {
		t.Fatalf("leave: %d %s", r.code, r.body)
	}
	select {
	case <-a.ShutdownRequested():
	case <-time.After(15 * time.Second):
		t.Fatal("leave did not request a shutdown")
	}
}

// BenchmarkConsulHealthService measures GET /v1/health/service/web on the
// Consul listener (100 instances, Consul's shapes, no cache) over keep-alive
// connections from parallel clients; compare BenchmarkHTTPLookup.
func BenchmarkConsulHealthService(b *testing.B) {
	cfg := agenttest.Config(b, "node-a")
	cfg.Consul.HTTP = "127.0.0.1:0"
	a := agenttest.Start(b, cfg)
	c := agenttest.Client(b, a)
	for i := range 100 {
		if _, err := c.Register(b.Context(), api.Registration{ID: fmt.Sprintf("web-%03d", i), Name: "web", Address: "10.0.0.1", Port: 8000 + i, Tags: []string{"v1"}}); err != nil {
			b.Fatal(err)
		}
	}
	benchGets(b, "http://"+a.ConsulAddr()+"/v1/health/service/web?passing", 100*300)
}
