package render

import (
	"errors"
	"strings"
	"testing"
)

// FuzzParseTemplateSpec: any -template value gives a Template or an
// ErrInvalidConfig, never a panic; a Template parses back from its String.
func FuzzParseTemplateSpec(f *testing.F) {
	for _, s := range []string{"a.tmpl:a.cfg", "a:b:systemctl reload haproxy", "a:b:sh -c 'x:y'", ":", "::", "a::", "a:b:", "", "\x00:\xff"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		tm, err := ParseTemplateSpec(s)
		if err != nil {
			if !errors.Is(err, ErrInvalidConfig) {
				t.Fatalf("ParseTemplateSpec(%q): %v is not an ErrInvalidConfig", s, err)
			}
			return
		}
		if tm.Source == "" || tm.Dest == "" || strings.Contains(tm.Source, ":") || strings.Contains(tm.Dest, ":") {
			t.Fatalf("ParseTemplateSpec(%q) = %+v", s, tm)
		}
		if again, err := ParseTemplateSpec(tm.String()); err != nil || again != tm {
			t.Fatalf("ParseTemplateSpec(%q) = %+v; its String parses to %+v, %v", s, tm, again, err)
		}
	})
}

// FuzzParseWait: any -wait value gives a valid Wait or an ErrInvalidConfig.
func FuzzParseWait(f *testing.F) {
	for _, s := range []string{"500ms:5s", "2s", "0", "0:0", "5s:1s", "-1s", "1h:", ":1s", "9223372036854775807ns", "2562047h"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		w, err := ParseWait(s)
		if err != nil {
			if !errors.Is(err, ErrInvalidConfig) {
				t.Fatalf("ParseWait(%q): %v is not an ErrInvalidConfig", s, err)
			}
			return
		}
		if w.Min < 0 || w.Max < w.Min {
			t.Fatalf("ParseWait(%q) = %v: not 0 <= MIN <= MAX", s, w)
		}
	})
}

// FuzzTemplate parses arbitrary template text, as New and Reload do: an
// error or a template, never a panic. A template that parses is rendered
// against the test data, unless it holds digits: `{{range 1000000000}}{{end}}`
// is a legal template that takes minutes, and no input of the fuzzer should.
func FuzzTemplate(f *testing.F) {
	for _, s := range []string{
		`{{range service "web" "health=any" "tag=v2"}}{{.ID}} {{hostPort .Address .Port}}{{end}}`,
		`{{range $t, $is := byTag (service "web")}}{{$t}} {{join "," (index $is 0).Tags}}{{end}}`,
		`{{toJSON services}}{{range members}}{{.Name}}{{end}}{{env "HOME"}}`,
		`{{define "x"}}{{service .}}{{end}}{{template "x" "db"}}`,
		`{{service "web" "colour=red"}}`,
		`{{service}}{{join}}{{byTag 1}}{{hostPort "a" "b"}}{{contains nil nil}}`,
		`{{if`, `{{end}}`, `{{.Nope.Nope}}`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, text string) {
		tm, err := parseTemplate("fuzz.tmpl", []byte(text))
		if err != nil {
			if !errors.Is(err, ErrTemplate) {
				t.Fatalf("parse %q: %v is not an ErrTemplate", text, err)
			}
			return
		}
		if strings.ContainsAny(text, "0123456789") {
			return
		}
		res := execute(tm, testData())
		if res.err != nil && !errors.Is(res.err, ErrTemplate) {
			t.Fatalf("render %q: %v is not an ErrTemplate", text, res.err)
		}
		if len(res.out) > MaxOutput {
			t.Fatalf("render %q: %d bytes", text, len(res.out))
		}
	})
}
