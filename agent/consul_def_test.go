package agent

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/grapevine-sd/grapevine/probe"
)

// TestConsulCheckMapping: each Consul check field lands on the probe field
// docs/consul.md says, with Consul's defaults and clamps.
func TestConsulCheckMapping(t *testing.T) {
	tests := []struct {
		name, in string
		want     probe.Check
	}{
		{"ttl defaults", `{"TTL":"30s"}`, probe.Check{ID: "service:web-1", Name: "Service 'web' check", Type: probe.TTL, TTL: 30 * time.Second,
			Rise: 1, Fall: 1, InitialStatus: probe.Critical}},
		{"ttl ignores interval", `{"ttl":"5s","interval":"10s","status":"passing","notes":"n","check_id":"beat"}`, probe.Check{ID: "beat", Name: "Service 'web' check",
			Type: probe.TTL, TTL: 5 * time.Second, Rise: 1, Fall: 1, InitialStatus: probe.Passing, Notes: "n"}},
		{"http", `{"ID":"h","Name":"n","HTTP":"https://127.0.0.1:8443/h","Method":"POST","Header":{"X":["a","b"],"Y":"c"},"TLSSkipVerify":true,
			"Interval":"5s","Timeout":"2s","SuccessBeforePassing":3,"FailuresBeforeCritical":4,"DeregisterCriticalServiceAfter":"30s"}`,
			probe.Check{ID: "h", Name: "n", Type: probe.HTTP, Target: "https://127.0.0.1:8443/h", Method: "POST", Headers: map[string]string{"X": "a, b", "Y": "c"},
				TLSSkipVerify: true, Interval: 5 * time.Second, Timeout: 2 * time.Second, Rise: 3, Fall: 4, DeregisterCriticalAfter: time.Minute,
				InitialStatus: probe.Critical, ExpectStatus: &probe.StatusRange{Min: 200, Max: 299}}},
		{"tcp clamps", `{"TCP":"127.0.0.1:1","Interval":"100ms","Timeout":"10s"}`, probe.Check{ID: "service:web-1", Name: "Service 'web' check",
			Type: probe.TCP, Target: "127.0.0.1:1", Interval: time.Second, Timeout: 900 * time.Millisecond, Rise: 1, Fall: 1, InitialStatus: probe.Critical}},
		{"tcp interval in nanoseconds", `{"TCP":"127.0.0.1:1","Interval":2000000000}`, probe.Check{ID: "service:web-1", Name: "Service 'web' check",
			Type: probe.TCP, Target: "127.0.0.1:1", Interval: 2 * time.Second, Timeout: time.Second, Rise: 1, Fall: 1, InitialStatus: probe.Critical}},
		{"grpc without tls drops skip-verify", `{"GRPC":"127.0.0.1:9/a.B","TLSSkipVerify":true}`, probe.Check{ID: "service:web-1", Name: "Service 'web' check",
			Type: probe.GRPC, Target: "127.0.0.1:9/a.B", Interval: 10 * time.Second, Timeout: 5 * time.Second, Rise: 1, Fall: 1, InitialStatus: probe.Critical}},
		{"grpc tls", `{"grpc":"127.0.0.1:9","grpc_use_tls":true,"tls_skip_verify":true}`, probe.Check{ID: "service:web-1", Name: "Service 'web' check",
			Type: probe.GRPC, Target: "127.0.0.1:9", TLS: true, TLSSkipVerify: true, Interval: 10 * time.Second, Timeout: 5 * time.Second, Rise: 1, Fall: 1,
			InitialStatus: probe.Critical}},
		{"script args", `{"ScriptArgs":["/bin/check","-x"],"Interval":"30s"}`, probe.Check{ID: "service:web-1", Name: "Service 'web' check",
			Type: probe.Exec, Args: []string{"/bin/check", "-x"}, Interval: 30 * time.Second, Timeout: 5 * time.Second, Rise: 1, Fall: 1, InitialStatus: probe.Critical}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := decodeObject([]byte(tt.in))
			if err != nil {
				t.Fatal(err)
			}
			got, err := parseConsulCheck(f, "service:web-1", "Service 'web' check", "")
			if err != nil {
				t.Fatalf("parseConsulCheck: %v", err)
			}
			g, _ := json.Marshal(got)
			w, _ := json.Marshal(tt.want.WithDefaults())
			if string(g) != string(w) {
				t.Errorf("got  %s\nwant %s", g, w)
			}
		})
	}
}

// TestConsulDefinitionFileForms: {"service":…} and {"services":[…]} files
// are Consul's; anything else is left to the native parser.
func TestConsulDefinitionFileForms(t *testing.T) {
	tests := []struct {
		in      string
		consul  bool
		ids     string
		wantErr string
	}{
		{`{"service":{"name":"a","port":1}}`, true, "a", ""},
		{`{"services":[{"name":"a","id":"a1"},{"Name":"b"}]}`, true, "a1,b", ""},
		{`{"Service":{"Name":"a"},"Services":[{"Name":"b"}]}`, true, "a,b", ""},
		{`{"service":{"name":"a"},"extra":1}`, true, "", "unsupported field"},
		{`{"services":{"name":"a"}}`, true, "", "must be a list"},
		{`{"services":[{"name":"a","check":{"ttl":"1s","tcp":"x:1"}}]}`, true, "", "only one of"},
		{`{"name":"a","port":1}`, false, "", ""},
		{`[{"service":{"name":"a"}}]`, false, "", ""},
	}
	for _, tt := range tests {
		regs, ok, err := parseConsulDefinitions([]byte(tt.in))
		if ok != tt.consul {
			t.Errorf("%s: consul form %v, want %v", tt.in, ok, tt.consul)
			continue
		}
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("%s: error %v, want %q", tt.in, err, tt.wantErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", tt.in, err)
			continue
		}
		var ids []string
		for _, r := range regs {
			ids = append(ids, r.ID)
		}
		if got := strings.Join(ids, ","); got != tt.ids {
			t.Errorf("%s: ids %q, want %q", tt.in, got, tt.ids)
		}
	}
}

// TestConsulConfig: the Consul listener obeys the native API's binding rule
// and the datacenter name is checked.
func TestConsulConfig(t *testing.T) {
	tests := []struct {
		name string
		edit func(*Config)
		want string
	}{
		{"loopback", func(c *Config) { c.Consul.HTTP = "127.0.0.1:8500" }, ""},
		{"exposed without acl or tls", func(c *Config) { c.Consul.HTTP = "0.0.0.0:8500" }, "consul.http 0.0.0.0:8500 is not a loopback address"},
		{"exposed, accepted risk", func(c *Config) { c.Consul.HTTP = "0.0.0.0:8500"; c.InsecureHTTP = true }, ""},
		{"bad address", func(c *Config) { c.Consul.HTTP = "nope" }, "consul.http"},
		{"datacenter with a space", func(c *Config) { c.Consul.Datacenter = "dc 1" }, "consul.datacenter"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := DefaultConfig()
			c.Node = "n1"
			c.InsecureGossip = true
			tt.edit(&c)
			err := c.Validate()
			if (tt.want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tt.want)) {
				t.Errorf("Validate() = %v, want %q", err, tt.want)
			}
		})
	}
}

// TestAnswerCacheBounds: the answer cache stays within its entry and byte
// bounds whatever the keys, and answers only the index it was filled at.
func TestAnswerCacheBounds(t *testing.T) {
	var c answerCache
	big := make([]byte, maxCachedBytes/16)
	for i := range 5000 {
		c.put(strings.Repeat("k", i%300)+string(rune('a'+i%26)), uint64(i), 1, big[:i%len(big)])
		if len(c.m) > maxCachedAnswers || c.bytes > maxCachedBytes {
			t.Fatalf("after %d puts: %d entries, %d bytes", i+1, len(c.m), c.bytes)
		}
	}
	c.put("x", 7, 2, []byte("[]"))
	if _, ok := c.get([]byte("x"), 8, 2); ok {
		t.Errorf("answered another index")
	}
	if _, ok := c.get([]byte("x"), 7, 3); ok {
		t.Errorf("answered another membership generation")
	}
	if a, ok := c.get([]byte("x"), 7, 2); !ok || string(a.raw) != "[]" || !slices.Equal(a.indexHdr, []string{"7"}) {
		t.Errorf("get = %+v %v", a, ok)
	}
	c.put("huge", 1, 1, make([]byte, maxCachedBytes))
	if _, ok := c.get([]byte("huge"), 1, 1); ok {
		t.Errorf("an answer above the per-answer bound was cached")
	}
}

// TestAnswerKeyUnambiguous: query shapes that differ never share a cache
// key, whatever bytes (%00 too) their parameters hold.
func TestAnswerKeyUnambiguous(t *testing.T) {
	type shape struct {
		name, zone string
		tags       []string
		meta       map[string]string
	}
	shapes := []shape{
		{name: "web", tags: []string{"a", "b"}},
		{name: "web", tags: []string{"a\x00tb"}},
		{name: "web", tags: []string{"a\x00b"}},
		{name: "web\x00", zone: "z"},
		{name: "web", zone: "\x00z"},
		{name: "web", meta: map[string]string{"k": "v\x00mx\x00y"}},
		{name: "web", meta: map[string]string{"k": "v", "x": "y"}},
		{name: "web", tags: []string{""}},
		{name: "web"},
	}
	seen := map[string]int{}
	for i, s := range shapes {
		k := string(appendAnswerKey(nil, "health", s.name, &consulQuery{zone: s.zone, nodeMeta: s.meta}, s.tags, false))
		if j, ok := seen[k]; ok {
			t.Errorf("shapes %d and %d share key %q", j, i, k)
		}
		seen[k] = i
	}
}
