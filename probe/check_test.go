package probe

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestParseCheckDefaults(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want Check
	}{
		{
			name: "http defaults",
			in:   `{"id":"web","type":"http","target":"http://127.0.0.1:8080/health"}`,
			want: Check{ID: "web", Type: HTTP, Target: "http://127.0.0.1:8080/health",
				Interval: 10 * time.Second, Timeout: 5 * time.Second, Method: "GET",
				ExpectStatus: &StatusRange{200, 299}, Rise: 1, Fall: 2, InitialStatus: Critical},
		},
		{
			name: "short interval caps timeout",
			in:   `{"id":"db","type":"tcp","target":"localhost:5432","interval":"2s"}`,
			want: Check{ID: "db", Type: TCP, Target: "localhost:5432", Interval: 2 * time.Second,
				Timeout: time.Second, Rise: 1, Fall: 2, InitialStatus: Critical},
		},
		{
			name: "exec with everything",
			in: `{"id":"x","name":"script","type":"exec","args":["/bin/check","-v"],"interval":"30s",
				"timeout":"3s","rise":3,"fall":4,"deregister_critical_after":"10m","initial_status":"passing"}`,
			want: Check{ID: "x", Name: "script", Type: Exec, Args: []string{"/bin/check", "-v"},
				Interval: 30 * time.Second, Timeout: 3 * time.Second, Rise: 3, Fall: 4,
				DeregisterCriticalAfter: 10 * time.Minute, InitialStatus: Passing},
		},
		{
			name: "ttl",
			in:   `{"id":"t","type":"TTL","ttl":"15s"}`,
			want: Check{ID: "t", Type: TTL, TTL: 15 * time.Second, Rise: 1, Fall: 2, InitialStatus: Critical},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseCheck([]byte(tt.in))
			if err != nil {
				t.Fatalf("ParseCheck: %v", err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestParseCheckErrors(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"no id", `{"type":"tcp","target":"a:1"}`, "id is required"},
		{"no type", `{"id":"a","target":"a:1"}`, "type is required"},
		{"bad type", `{"id":"a","type":"udp","target":"a:1"}`, `type "udp"`},
		{"grpc no port", `{"id":"a","type":"grpc","target":"a"}`, "grpc targets are host:port"},
		{"unknown field", `{"id":"a","type":"tcp","target":"a:1","intervl":"5s"}`, "unknown field"},
		{"numeric duration", `{"id":"a","type":"tcp","target":"a:1","interval":10}`, "duration must be a string"},
		{"bad duration", `{"id":"a","type":"tcp","target":"a:1","interval":"10 s"}`, "duration"},
		{"interval too short", `{"id":"a","type":"tcp","target":"a:1","interval":"500ms"}`, "interval 500ms"},
		{"timeout not below interval", `{"id":"a","type":"tcp","target":"a:1","interval":"5s","timeout":"5s"}`, "timeout 5s"},
		{"negative timeout", `{"id":"a","type":"tcp","target":"a:1","timeout":"-1s"}`, "timeout -1s"},
		{"tcp no port", `{"id":"a","type":"tcp","target":"localhost"}`, "want host:port"},
		{"tcp bad port", `{"id":"a","type":"tcp","target":"localhost:70000"}`, "port must be"},
		{"tcp no host", `{"id":"a","type":"tcp","target":":80"}`, "no host"},
		{"http scheme", `{"id":"a","type":"http","target":"ftp://x/"}`, "http:// or https://"},
		{"http no host", `{"id":"a","type":"http","target":"http:///x"}`, "no host"},
		{"http method", `{"id":"a","type":"http","target":"http://x/","method":"GE T"}`, "method"},
		{"http header crlf", `{"id":"a","type":"http","target":"http://x/","headers":{"X":"a\r\nb"}}`, "header"},
		{"http header name", `{"id":"a","type":"http","target":"http://x/","headers":{"X Y":"a"}}`, "header name"},
		{"http expect", `{"id":"a","type":"http","target":"http://x/","expect_status":{"min":300,"max":200}}`, "expect_status"},
		{"exec no args", `{"id":"a","type":"exec"}`, "needs a program"},
		{"exec empty program", `{"id":"a","type":"exec","args":[""]}`, "needs a program"},
		{"exec target", `{"id":"a","type":"exec","target":"/bin/true"}`, "needs a program"},
		{"exec with target and args", `{"id":"a","type":"exec","args":["/bin/true"],"target":"x"}`, "use args"},
		{"exec nul", `{"id":"a","type":"exec","args":["/bin/true","a\u0000b"]}`, "NUL"},
		{"args on tcp", `{"id":"a","type":"tcp","target":"a:1","args":["x"]}`, "args apply only"},
		{"method on tcp", `{"id":"a","type":"tcp","target":"a:1","method":"GET"}`, "apply only to an http"},
		{"ttl missing", `{"id":"a","type":"ttl"}`, "ttl 0s"},
		{"ttl with interval", `{"id":"a","type":"ttl","ttl":"10s","interval":"5s"}`, "do not apply to a ttl"},
		{"ttl on tcp", `{"id":"a","type":"tcp","target":"a:1","ttl":"5s"}`, "ttl applies only"},
		{"rise", `{"id":"a","type":"tcp","target":"a:1","rise":-1}`, "rise -1"},
		{"fall", `{"id":"a","type":"tcp","target":"a:1","fall":101}`, "fall 101"},
		{"initial", `{"id":"a","type":"tcp","target":"a:1","initial_status":"ok"}`, "initial_status"},
		{"deregister", `{"id":"a","type":"tcp","target":"a:1","deregister_critical_after":"5s"}`, "deregister_critical_after"},
		{"control id", `{"id":"a\u0001","type":"tcp","target":"a:1"}`, "control character"},
		{"long id", `{"id":"` + strings.Repeat("a", 300) + `","type":"tcp","target":"a:1"}`, "longer than"},
		{"not an object", `[1,2]`, "cannot unmarshal"},
		{"trailing junk", `{"id":"a"} x`, "invalid"},
		{"huge", `{"id":"` + strings.Repeat("a", maxCheckJSON) + `"}`, "larger than"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseCheck([]byte(tt.in))
			if err == nil {
				t.Fatalf("ParseCheck(%s) = nil error, want %q", tt.in, tt.want)
			}
			if !errors.Is(err, ErrInvalidCheck) {
				t.Errorf("error %v does not wrap ErrInvalidCheck", err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("got error %q, want it to contain %q", err, tt.want)
			}
		})
	}
}

func TestCheckJSONRoundTrip(t *testing.T) {
	in := Check{ID: "web", Name: "Web", Type: HTTP, Target: "https://127.0.0.1/h",
		Interval: 15 * time.Second, Timeout: 1500 * time.Millisecond, Method: "HEAD",
		Headers: map[string]string{"Host": "example.com"}, ExpectStatus: &StatusRange{200, 399},
		TLSSkipVerify: true, Rise: 2, Fall: 3, DeregisterCriticalAfter: time.Hour, InitialStatus: Warning}
	b, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{`"interval":"15s"`, `"timeout":"1.5s"`, `"tls_skip_verify":true`,
		`"expect_status":{"min":200,"max":399}`, `"deregister_critical_after":"1h0m0s"`, `"initial_status":"warning"`} {
		if !strings.Contains(string(b), key) {
			t.Errorf("json %s lacks %s", b, key)
		}
	}
	got, err := ParseCheck(b)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, in) {
		t.Errorf("round trip: got %+v, want %+v", got, in)
	}
	// Embedded in a caller's struct, as in a service definition.
	var def struct {
		Checks []Check `json:"checks"`
	}
	if err := json.Unmarshal([]byte(`{"checks":[`+string(b)+`]}`), &def); err != nil || len(def.Checks) != 1 || def.Checks[0].Interval != in.Interval {
		t.Errorf("embedded decode: %v %+v", err, def.Checks)
	}
}

func FuzzParseCheck(f *testing.F) {
	for _, s := range []string{
		`{"id":"web","type":"http","target":"http://127.0.0.1:8080/health","interval":"5s","headers":{"Host":"x"}}`,
		`{"id":"db","type":"tcp","target":"[::1]:5432","rise":2,"fall":3}`,
		`{"id":"x","type":"exec","args":["/bin/true"],"timeout":"1s","deregister_critical_after":"2m"}`,
		`{"id":"t","type":"ttl","ttl":"30s","initial_status":"passing"}`,
		`{"id":"a","type":"http","target":"http://x/","expect_status":{"min":100,"max":599}}`,
		`{"interval":"9223372036854775807ns"}`,
		`{"id":"\u00ff\ud800","type":"tcp"}`,
		`null`, `{}`, `[]`, ``,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := ParseCheck(data)
		if err != nil {
			if !errors.Is(err, ErrInvalidCheck) {
				t.Fatalf("error %v does not wrap ErrInvalidCheck", err)
			}
			return
		}
		// A valid check re-encodes to an equal valid check.
		b, err := json.Marshal(c)
		if err != nil {
			t.Fatalf("marshal valid check: %v", err)
		}
		c2, err := ParseCheck(b)
		if err != nil {
			t.Fatalf("re-parse %s: %v", b, err)
		}
		if !reflect.DeepEqual(c, c2) {
			t.Fatalf("round trip changed the check: %+v -> %+v", c, c2)
		}
		if c.Type != TTL && (c.Timeout >= c.Interval || c.Interval < MinInterval) {
			t.Fatalf("validated check has a bad schedule: %+v", c)
		}
	})
}
