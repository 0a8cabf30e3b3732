package render

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/grapevine-sd/grapevine/api"
)

func TestParseTemplateSpec(t *testing.T) {
	tests := []struct {
		in      string
		want    Template
		wantErr string
	}{
		{in: "a.tmpl:/etc/a.cfg", want: Template{Source: "a.tmpl", Dest: "/etc/a.cfg"}},
		{in: "a.tmpl:a.cfg:systemctl reload haproxy", want: Template{Source: "a.tmpl", Dest: "a.cfg", Command: "systemctl reload haproxy"}},
		{in: "a:b:sh -c 'echo a:b, c'", want: Template{Source: "a", Dest: "b", Command: "sh -c 'echo a:b, c'"}},
		{in: "a.tmpl", wantErr: "want SRC:DEST[:COMMAND]"},
		{in: "", wantErr: "want SRC:DEST[:COMMAND]"},
		{in: ":b", wantErr: "empty SRC"},
		{in: "a:", wantErr: "empty DEST"},
		{in: "a: :x", wantErr: "empty DEST"},
		{in: "a:b:", wantErr: "empty COMMAND"},
		{in: "a:b:  ", wantErr: "empty COMMAND"},
	}
	for _, tt := range tests {
		got, err := ParseTemplateSpec(tt.in)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !errors.Is(err, ErrInvalidConfig) {
				t.Errorf("ParseTemplateSpec(%q) = %+v, %v; want an ErrInvalidConfig with %q", tt.in, got, err, tt.wantErr)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("ParseTemplateSpec(%q) = %+v, %v; want %+v", tt.in, got, err, tt.want)
		}
		if again, err := ParseTemplateSpec(got.String()); err != nil || again != got {
			t.Errorf("ParseTemplateSpec(%q.String()) = %+v, %v; want the same template back", tt.in, again, err)
		}
	}
}

func TestParseWait(t *testing.T) {
	tests := []struct {
		in      string
		want    Wait
		wantErr string
	}{
		{in: "500ms:5s", want: Wait{500 * time.Millisecond, 5 * time.Second}},
		{in: "2s", want: Wait{2 * time.Second, 8 * time.Second}},
		{in: "0", want: Wait{0, 0}},
		{in: "0:1s", want: Wait{0, time.Second}},
		{in: "1s:1s", want: Wait{time.Second, time.Second}},
		{in: "5s:1s", wantErr: "want 0 <= MIN <= MAX"},
		{in: "-1s", wantErr: "MIN \"-1s\" is not a duration"},
		{in: "1s:-1s", wantErr: "MAX \"-1s\" is not a duration"},
		{in: "5", wantErr: "not a duration like 500ms"},
		{in: "", wantErr: "MIN \"\""},
		{in: "1s:", wantErr: "MAX \"\""},
		{in: "1s:2s:3s", wantErr: "MAX \"2s:3s\""},
		{in: "2000000h", wantErr: "MIN too large"},
	}
	for _, tt := range tests {
		got, err := ParseWait(tt.in)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !errors.Is(err, ErrInvalidConfig) {
				t.Errorf("ParseWait(%q) = %v, %v; want an ErrInvalidConfig with %q", tt.in, got, err, tt.wantErr)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("ParseWait(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
		}
	}
}

func TestConfigValidate(t *testing.T) {
	valid := func() Config {
		c := DefaultConfig()
		c.Agent = &api.Client{}
		c.Templates = []Template{{Source: "a.tmpl", Dest: "a.cfg"}, {Source: "b.tmpl", Dest: "b.cfg"}}
		return c
	}
	if err := valid().Validate(); err != nil {
		t.Fatalf("valid config: %v", err)
	}
	tests := []struct {
		name    string
		mutate  func(*Config)
		wantErr string
	}{
		{"no agent", func(c *Config) { c.Agent = nil }, "no agent"},
		{"no template", func(c *Config) { c.Templates = nil }, "no template"},
		{"empty dest", func(c *Config) { c.Templates[0].Dest = "" }, "empty SRC or DEST"},
		{"same dest", func(c *Config) { c.Templates[1].Dest = "./a.cfg" }, "two templates write"},
		{"dest is a source", func(c *Config) { c.Templates[1].Dest = "a.tmpl" }, "is a template source"},
		{"wait", func(c *Config) { c.Wait = Wait{Min: 2, Max: 1} }, "MIN <= MAX"},
		{"exec timeout", func(c *Config) { c.ExecTimeout = 0 }, "exec timeout"},
		{"query wait", func(c *Config) { c.QueryWait = -1 }, "query wait"},
		{"poll", func(c *Config) { c.PollInterval = 0 }, "poll interval"},
		{"retry", func(c *Config) { c.RetryMax = c.RetryMin / 2 }, "retry max"},
		{"dry output", func(c *Config) { c.Dry, c.DryOutput = true, nil }, "dry run without an output"},
	}
	for _, tt := range tests {
		c := valid()
		tt.mutate(&c)
		err := c.Validate()
		if err == nil || !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), tt.wantErr) {
			t.Errorf("%s: Validate() = %v, want an ErrInvalidConfig with %q", tt.name, err, tt.wantErr)
		}
	}
}
