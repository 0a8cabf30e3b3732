package deptest

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// graph builds a synthetic graph from "pkg: import import ..." lines; a name
// without a dot in its first element is a standard package.
func graph(lines ...string) Graph {
	g := Graph{}
	add := func(path string) *Package {
		if g[path] == nil {
			g[path] = &Package{ImportPath: path, Standard: !strings.Contains(strings.Split(path, "/")[0], ".")}
		}
		return g[path]
	}
	for _, l := range lines {
		from, imps, _ := strings.Cut(l, ":")
		pkg := add(strings.TrimSpace(from))
		for _, imp := range strings.Fields(imps) {
			add(imp)
			pkg.Imports = append(pkg.Imports, imp)
		}
	}
	return g
}

// The layered module as the table wants it.
var clean = []string{
	"m.io/crdt: sort strconv",
	"m.io/catalog: m.io/crdt os",
	"m.io/catalog/catalogtest: m.io/catalog testing",
	"m.io/gossip: m.io/crdt x.io/memberlist net",
	"m.io/probe: net/http x.io/grpc",
	"m.io/api: net/http encoding/json",
	"m.io/agent: m.io/catalog m.io/gossip m.io/probe m.io/api",
	"m.io/render: m.io/api text/template",
	"m.io/sim: m.io/agent x.io/plot",
	"m.io/cmd/main: m.io/agent m.io/render",
	"x.io/plot: x.io/font",
	"net/http: net",
}

var synthetic = []Rule{
	{Name: "crdt", From: []string{"m.io/crdt/..."}, StdOnly: true, ForbidDirect: []string{"os/...", "net/...", "time"}},
	{Name: "catalog", From: []string{"m.io/catalog/..."}, Forbid: []string{"m.io/gossip/...", "m.io/agent/..."}},
	{Name: "probe", From: []string{"m.io/probe/..."}, Scope: []string{"m.io/..."}},
	{Name: "api", From: []string{"m.io/api/..."}, StdOnly: true},
	{Name: "agent", From: []string{"m.io/agent/..."}, Forbid: []string{"m.io/sim/..."}},
	{Name: "render", From: []string{"m.io/render/..."}, Scope: []string{"m.io/..."}, Allow: []string{"m.io/api"}},
	{Name: "binary", From: []string{"m.io/cmd/main"}, Forbid: []string{"x.io/plot/...", "x.io/font/..."}},
}

// TestCheckFailsOnForbiddenImports: adding any forbidden import to the clean
// graph makes Check report it, with the chain that reaches it.
func TestCheckFailsOnForbiddenImports(t *testing.T) {
	if vs := Check(graph(clean...), synthetic); len(vs) != 0 {
		t.Fatalf("clean graph: %v", vs)
	}
	tests := []struct {
		name string
		add  string // one more import line
		want string // the violation
	}{
		{"agent imports sim", "m.io/agent: m.io/sim", "agent: m.io/agent → m.io/sim"},
		{"agent reaches sim through a helper", "m.io/agent: m.io/helper\nm.io/helper: m.io/sim", "agent: m.io/agent → m.io/helper → m.io/sim"},
		{"crdt imports a module", "m.io/crdt: x.io/memberlist", "crdt: m.io/crdt → x.io/memberlist"},
		{"crdt reads the clock", "m.io/crdt: time", "crdt: m.io/crdt → time"},
		{"crdt does I/O", "m.io/crdt: os/exec", "crdt: m.io/crdt → os/exec"},
		{"catalog imports gossip", "m.io/catalog: m.io/gossip", "catalog: m.io/catalog → m.io/gossip"},
		{"a catalog subpackage imports agent", "m.io/catalog/catalogtest: m.io/agent", "catalog: m.io/catalog/catalogtest → m.io/agent"},
		{"probe imports the project", "m.io/probe: m.io/api", "probe: m.io/probe → m.io/api"},
		{"api imports a module", "m.io/api: x.io/yaml", "api: m.io/api → x.io/yaml"},
		{"render imports the catalog", "m.io/render: m.io/catalog", "render: m.io/render → m.io/catalog"},
		{"the binary links plotting", "m.io/cmd/main: m.io/sim", "binary: m.io/cmd/main → m.io/sim → x.io/plot"},
	}
	for _, tc := range tests {
		lines := slices.Clone(clean)
		lines = append(lines, strings.Split(tc.add, "\n")...)
		vs := Check(graph(lines...), synthetic)
		var got []string
		for _, v := range vs {
			got = append(got, v.String())
		}
		if !slices.Contains(got, tc.want) {
			t.Errorf("%s: violations %q, want %q among them", tc.name, got, tc.want)
		}
	}
}

func TestMatch(t *testing.T) {
	for _, tc := range []struct {
		pattern, path string
		want          bool
	}{
		{"a/b", "a/b", true},
		{"a/b", "a/b/c", false},
		{"a/b/...", "a/b", true},
		{"a/b/...", "a/b/c/d", true},
		{"a/b/...", "a/bc", false},
		{"net/...", "net/http", true},
	} {
		if got := Match(tc.pattern, tc.path); got != tc.want {
			t.Errorf("Match(%q, %q) = %v, want %v", tc.pattern, tc.path, got, tc.want)
		}
	}
}

// TestLoadSeesAnAddedImport: the real loader on a scratch module. A forbidden
// import written into a file is found through `go list`.
func TestLoadSeesAnAddedImport(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("no go command")
	}
	dir := t.TempDir()
	write := func(name, content string) {
		t.Helper()
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("go.mod", "module m.io\n\ngo 1.22\n")
	write("crdt/crdt.go", "// Package crdt is pure.\npackage crdt\n\nimport _ \"strings\"\n")
	write("sim/sim.go", "// Package sim drives agents.\npackage sim\n")
	write("agent/agent.go", "// Package agent runs.\npackage agent\n\nimport _ \"m.io/crdt\"\n")
	rules := []Rule{
		{Name: "agent", From: []string{"m.io/agent/..."}, Forbid: []string{"m.io/sim/..."}},
		{Name: "crdt", From: []string{"m.io/crdt/..."}, StdOnly: true, ForbidDirect: []string{"time"}},
	}
	g, err := Load(t.Context(), dir, "./...")
	if err != nil {
		t.Fatal(err)
	}
	if vs := Check(g, rules); len(vs) != 0 {
		t.Fatalf("clean module: %v", vs)
	}
	if g["m.io/crdt"].Doc != "Package crdt is pure." {
		t.Errorf("Doc = %q", g["m.io/crdt"].Doc)
	}
	write("agent/sim.go", "package agent\n\nimport _ \"m.io/sim\"\n")
	write("crdt/clock.go", "package crdt\n\nimport _ \"time\"\n")
	g, err = Load(t.Context(), dir, "./...")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, v := range Check(g, rules) {
		got = append(got, v.String())
	}
	want := []string{"agent: m.io/agent → m.io/sim", "crdt: m.io/crdt → time"}
	for _, w := range want {
		if !slices.Contains(got, w) {
			t.Errorf("violations %q, want %q among them", got, w)
		}
	}
}
