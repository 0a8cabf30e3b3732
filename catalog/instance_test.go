package catalog

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

func validInstance() Instance {
	return Instance{ID: "web-1", Service: "web", Node: "n1", Address: "10.0.0.1", Port: 80,
		Tags: []string{"v1"}, Meta: map[string]string{"ver": "1.2"}, Zone: "eu-1", Health: HealthPassing}
}

func TestInstanceValidate(t *testing.T) {
	many := func(n int) []string {
		out := make([]string, n)
		for i := range out {
			out[i] = "t"
		}
		return out
	}
	bigMeta := map[string]string{}
	for i := range MaxMeta + 1 {
		bigMeta[strings.Repeat("k", i+1)] = "v"
	}
	tests := []struct {
		name string
		mod  func(*Instance)
		ok   bool
	}{
		{"valid", func(*Instance) {}, true},
		{"hostname address", func(in *Instance) { in.Address = "db-1.example.com." }, true},
		{"ipv6 address", func(in *Instance) { in.Address = "fe80::1" }, true},
		{"empty address", func(in *Instance) { in.Address = "" }, true},
		{"port 0", func(in *Instance) { in.Port = 0 }, true},
		{"port 65535", func(in *Instance) { in.Port = 65535 }, true},
		{"empty zone", func(in *Instance) { in.Zone = "" }, true},
		{"max output", func(in *Instance) { in.Output = strings.Repeat("x", MaxOutputLen) }, true},
		{"empty service", func(in *Instance) { in.Service = "" }, false},
		{"upper service", func(in *Instance) { in.Service = "Web" }, false},
		{"dotted service", func(in *Instance) { in.Service = "web.api" }, false},
		{"dash service", func(in *Instance) { in.Service = "-web" }, false},
		{"long service", func(in *Instance) { in.Service = strings.Repeat("a", 64) }, false},
		{"empty id", func(in *Instance) { in.ID = "" }, false},
		{"id with slash", func(in *Instance) { in.ID = "a/b" }, false},
		{"id with space", func(in *Instance) { in.ID = "a b" }, false},
		{"long id", func(in *Instance) { in.ID = strings.Repeat("a", MaxIDLen+1) }, false},
		{"empty node", func(in *Instance) { in.Node = "" }, false},
		{"negative port", func(in *Instance) { in.Port = -1 }, false},
		{"big port", func(in *Instance) { in.Port = 65536 }, false},
		{"bad address", func(in *Instance) { in.Address = "not an address" }, false},
		{"bad label", func(in *Instance) { in.Address = "a..b" }, false},
		{"too many tags", func(in *Instance) { in.Tags = many(MaxTags + 1) }, false},
		{"empty tag", func(in *Instance) { in.Tags = []string{""} }, false},
		{"control tag", func(in *Instance) { in.Tags = []string{"a\nb"} }, false},
		{"long tag", func(in *Instance) { in.Tags = []string{strings.Repeat("t", MaxTagLen+1)} }, false},
		{"too much meta", func(in *Instance) { in.Meta = bigMeta }, false},
		{"meta key colon", func(in *Instance) { in.Meta = map[string]string{"a:b": "c"} }, false},
		{"meta long value", func(in *Instance) { in.Meta = map[string]string{"a": strings.Repeat("v", MaxMetaValLen+1)} }, false},
		{"bad zone", func(in *Instance) { in.Zone = "eu 1" }, false},
		{"zero health", func(in *Instance) { in.Health = 0 }, false},
		{"unknown health", func(in *Instance) { in.Health = 9 }, false},
		{"long output", func(in *Instance) { in.Output = strings.Repeat("x", MaxOutputLen+1) }, false},
		{"invalid utf8 output", func(in *Instance) { in.Output = "\xff" }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := validInstance()
			tt.mod(&in)
			err := in.Validate()
			if got := err == nil; got != tt.ok {
				t.Fatalf("Validate() = %v, want ok=%v", err, tt.ok)
			}
			if err != nil && !errors.Is(err, ErrInvalidInstance) {
				t.Fatalf("error %v does not wrap ErrInvalidInstance", err)
			}
		})
	}
}

func TestHealthText(t *testing.T) {
	for h := HealthPassing; h <= HealthMaintenance; h++ {
		b, err := json.Marshal(h)
		if err != nil {
			t.Fatal(err)
		}
		var got Health
		if err := json.Unmarshal(b, &got); err != nil || got != h {
			t.Fatalf("round trip of %v via %s: got %v, %v", h, b, got, err)
		}
	}
	if b, _ := json.Marshal(HealthWarning); string(b) != `"warning"` {
		t.Fatalf("got %s, want \"warning\"", b)
	}
	var h Health
	if err := json.Unmarshal([]byte(`"sick"`), &h); err == nil {
		t.Fatal("unknown health accepted")
	}
	if _, err := json.Marshal(Health(0)); err == nil {
		t.Fatal("zero health marshalled")
	}
}

func TestParseHealthFilter(t *testing.T) {
	tests := []struct {
		in      string
		want    HealthFilter
		wantErr bool
	}{
		{"", HealthDefault, false},
		{"any", HealthAny, false},
		{"passing", HealthOnly(HealthPassing), false},
		{"passing, critical", HealthOnly(HealthPassing, HealthCritical), false},
		{"bogus", 0, true},
	}
	for _, tt := range tests {
		got, err := ParseHealthFilter(tt.in)
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("ParseHealthFilter(%q) = %v, %v; want %v, err %v", tt.in, got, err, tt.want, tt.wantErr)
		}
	}
	if !HealthDefault.Match(HealthWarning) || HealthDefault.Match(HealthCritical) || HealthDefault.Match(HealthMaintenance) {
		t.Error("default filter must select passing and warning only")
	}
}

func TestTruncateOutput(t *testing.T) {
	s := strings.Repeat("é", MaxOutputLen) // 2 bytes each
	got := truncateOutput(s)
	if len(got) > MaxOutputLen || !strings.HasPrefix(s, got) || len(got) < MaxOutputLen-1 {
		t.Fatalf("truncated to %d bytes", len(got))
	}
	if got := truncateOutput("a\xffb"); got != "a\uFFFDb" {
		t.Fatalf("got %q", got)
	}
}
