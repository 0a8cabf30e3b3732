package render

import (
	"errors"
	"strconv"
	"strings"
	"testing"

	"github.com/grapevine-sd/grapevine/api"
)

// testData is what the engine would hold: the services web and db, the
// service list and the members.
func testData() map[dep]any {
	return map[dep]any{
		{kind: depService, name: "web"}: []api.Instance{
			{ID: "web-1", Service: "web", Node: "node-a", Address: "10.0.0.1", Port: 8080, Tags: []string{"v1", "canary"}, Meta: map[string]string{"weight": "10"}, Zone: "eu-1", Health: api.HealthPassing},
			{ID: "web-2", Service: "web", Node: "node-b", Address: "fd00::2", Port: 8080, Tags: []string{"v2"}, Zone: "us-1", Health: api.HealthWarning},
			{ID: "web-3", Service: "web", Node: "node-c", Address: "10.0.0.3", Port: 8080, Tags: []string{"v2"}, Zone: "eu-1", Health: api.HealthCritical},
		},
		{kind: depService, name: "db"}: []api.Instance{},
		{kind: depServices}:            []api.ServiceSummary{{Name: "db"}, {Name: "web", Instances: 3, Passing: 1, Warning: 1, Critical: 1}},
		{kind: depMembers}:             []api.Member{{Name: "node-a", Addr: "10.0.0.1", Port: 7946, Status: api.MemberAlive}},
	}
}

func mustParse(t *testing.T, text string) result {
	t.Helper()
	tm, err := parseTemplate("t.tmpl", []byte(text))
	if err != nil {
		t.Fatalf("parse %q: %v", text, err)
	}
	return execute(tm, testData())
}

func TestFunctions(t *testing.T) {
	t.Setenv("RENDER_TEST_ENV", "from-env")
	tests := []struct{ text, want string }{
		{`{{range service "web"}}{{.ID}} {{end}}`, "web-1 web-2 "},
		{`{{range service "web" "health=any"}}{{.ID}} {{end}}`, "web-1 web-2 web-3 "},
		{`{{range service "web" "health=critical"}}{{.ID}} {{end}}`, "web-3 "},
		{`{{range service "web" "health=any" "tag=v2"}}{{.ID}} {{end}}`, "web-2 web-3 "},
		{`{{range service "web" "tag=v1" "tag=canary"}}{{.ID}} {{end}}`, "web-1 "},
		{`{{range service "web" "tag=v1" "tag=v2"}}{{.ID}} {{end}}`, ""},
		{`{{range service "web" "zone=eu-1" "health=any"}}{{.ID}} {{end}}`, "web-1 web-3 "},
		{`{{range service "web" "meta=weight:10"}}{{.ID}} {{end}}`, "web-1 "},
		{`{{range service "web" "meta=weight:11"}}{{.ID}} {{end}}`, ""},
		{`{{len (service "db")}}`, "0"},
		{`{{$f := "tag=v2"}}{{range service "web" $f}}{{.ID}}{{end}}`, "web-2"},
		{`{{range service "web"}}{{hostPort .Address .Port}} {{end}}`, "10.0.0.1:8080 [fd00::2]:8080 "},
		{`{{range service "web"}}{{join "," .Tags}};{{end}}`, "v1,canary;v2;"},
		{`{{range service "web"}}{{.Tags | join "+"}};{{end}}`, "v1+canary;v2;"},
		{`{{range service "web"}}{{if contains .Tags "canary"}}{{.ID}}{{end}}{{end}}`, "web-1"},
		{`{{range service "web"}}[{{.Meta.weight}}]{{end}}`, "[10][]"},
		{`{{range $tag, $insts := byTag (service "web" "health=any")}}{{$tag}}={{len $insts}} {{end}}`, "canary=1 v1=1 v2=2 "},
		{`{{range services}}{{.Name}}:{{.Passing}} {{end}}`, "db:0 web:1 "},
		{`{{range members}}{{.Name}} {{.Addr}} {{.Status}}{{end}}`, "node-a 10.0.0.1 alive"},
		{`{{env "RENDER_TEST_ENV"}}|{{env "RENDER_TEST_UNSET"}}`, "from-env|"},
		{`{{toJSON (index (service "web") 0).Tags}}`, `["v1","canary"]`},
		{`{{toJSON "a\"b"}}`, `"a\"b"`},
		{`{{define "srv"}}server {{.ID}}{{end}}{{range service "web"}}{{template "srv" .}};{{end}}`, "server web-1;server web-2;"},
	}
	for _, tt := range tests {
		res := mustParse(t, tt.text)
		if res.err != nil || !res.complete {
			t.Errorf("%s: err %v, complete %v", tt.text, res.err, res.complete)
			continue
		}
		if string(res.out) != tt.want {
			t.Errorf("%s\n got %q\nwant %q", tt.text, res.out, tt.want)
		}
	}
}

func TestRenderRecordsDependencies(t *testing.T) {
	res := mustParse(t, `{{service "web" "tag=v1"}}{{service "web" "tag=v2"}}{{if false}}{{members}}{{end}}{{services}}`)
	want := map[dep]bool{{kind: depService, name: "web"}: true, {kind: depServices}: true}
	if len(res.used) != len(want) {
		t.Fatalf("used %v, want %v (one dependency per service, whatever the filters; none for what was not executed)", res.used, want)
	}
	for d := range want {
		if !res.used[d] {
			t.Errorf("used %v lacks %v", res.used, d)
		}
	}
}

func TestRenderIncompleteWithoutData(t *testing.T) {
	tm, err := parseTemplate("t.tmpl", []byte(`{{(index (service "web") 0).Address}} {{range service "other"}}{{.ID}}{{end}}`))
	if err != nil {
		t.Fatal(err)
	}
	// Without data, index fails on the empty list: the render is incomplete
	// and its error is dropped, not reported as a broken template.
	res := execute(tm, map[dep]any{})
	if res.complete || res.err != nil {
		t.Fatalf("without data: complete %v, err %v; want incomplete without error", res.complete, res.err)
	}
	if !res.used[dep{kind: depService, name: "web"}] {
		t.Errorf("used %v: the lookup that failed must be recorded", res.used)
	}
	// With web but not other: still incomplete, now both are known.
	data := testData()
	delete(data, dep{kind: depService, name: "other"})
	res = execute(tm, data)
	if res.complete || !res.used[dep{kind: depService, name: "other"}] {
		t.Errorf("with web only: complete %v, used %v; want incomplete, other recorded", res.complete, res.used)
	}
	data[dep{kind: depService, name: "other"}] = []api.Instance{{ID: "o-1", Health: api.HealthPassing}}
	if res = execute(tm, data); !res.complete || res.err != nil || string(res.out) != "10.0.0.1 o-1" {
		t.Errorf("with all data: %q, complete %v, err %v", res.out, res.complete, res.err)
	}
}

func TestRenderErrors(t *testing.T) {
	tests := []struct{ text, wantErr string }{
		{`{{(index (service "db") 0).Address}}`, "index out of range"},
		{`{{$n := ""}}{{service $n}}`, "empty service name"},
		{`{{$f := "colour=red"}}{{service "web" $f}}`, `unknown key "colour"`},
		{`{{range 100000000}}{{printf "%1000s" ""}}{{end}}`, "output larger than"},
		{`{{range $i := 2000}}{{service (print "s" $i)}}{{end}}`, "more than 1024 distinct lookups"},
	}
	for _, tt := range tests {
		tm, err := parseTemplate("t.tmpl", []byte(tt.text))
		if err != nil {
			t.Fatalf("parse %q: %v", tt.text, err)
		}
		data := testData()
		if strings.Contains(tt.text, "2000") {
			for i := range 2000 {
				data[dep{kind: depService, name: "s" + strconv.Itoa(i)}] = []api.Instance{}
			}
		}
		res := execute(tm, data)
		if !res.complete || res.err == nil || !errors.Is(res.err, ErrTemplate) || !strings.Contains(res.err.Error(), tt.wantErr) {
			t.Errorf("%s: complete %v, err %v; want an ErrTemplate with %q", tt.text, res.complete, res.err, tt.wantErr)
		}
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct{ text, wantErr string }{
		{`{{nope}}`, `t.tmpl:1: function "nope" not defined`},
		{`{{range service "web"}}`, "unexpected EOF"},
		{`{{service "web" "tags=v2"}}`, `t.tmpl:1:2: service "web": filter "tags=v2": unknown key "tags"`},
		{`{{service "web" "health=sick"}}`, `filter "health=sick": health is one of`},
		{`{{service "web" "health="}}`, `filter "health=": health is one of`},
		{`{{service "web" "meta=novalue"}}`, `want meta=KEY:VALUE`},
		{`{{service "web" "tag="}}`, `empty tag`},
		{`{{service "web" "v2"}}`, `filter "v2": want tag=T`},
		{`{{service ""}}`, `empty service name`},
		{"\n{{if true}}{{else}}{{range service \"x\" \"zone\"}}{{end}}{{end}}", `t.tmpl:2:`},
		{`{{with $x := 1}}{{len (service "x" "bad")}}{{end}}`, `filter "bad"`},
		{`{{define "a"}}{{service "x" "bad"}}{{end}}`, `filter "bad"`},
		{`{{template "a" (service "x" "bad")}}{{define "a"}}{{end}}`, `filter "bad"`},
		{`{{"x" | printf "%s" | len | print (service "y" "z=1")}}`, `unknown key "z"`},
	}
	for _, tt := range tests {
		_, err := parseTemplate("t.tmpl", []byte(tt.text))
		if err == nil || !errors.Is(err, ErrTemplate) || !strings.Contains(err.Error(), tt.wantErr) {
			t.Errorf("parse %q: %v; want an ErrTemplate with %q", tt.text, err, tt.wantErr)
		}
	}
	// Filters that are not literals are checked when they run, not here.
	if _, err := parseTemplate("t.tmpl", []byte(`{{$f := "bad"}}{{service "web" $f}}{{"web" | service}}`)); err != nil {
		t.Errorf("non-literal arguments: %v", err)
	}
}
