package deptest

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

const mod = "github.com/grapevine-sd/grapevine"

// p is a module-relative package pattern made absolute.
func p(rel string) string { return mod + "/" + rel }

// pure are the standard packages crdt and what it uses may not import: no I/O,
// clock, randomness or goroutine machinery.
var pure = []string{"net/...", "os/...", "io/...", "time", "math/rand/...", "sync/...", "syscall", "log/...", "unsafe", "runtime/..."}

// rows are the rules of docs/architecture.md's layering table, by the package
// named in its first column; TestTableHasRules keeps the two in step.
var rows = map[string]Rule{
	"crdt": {
		Name:    "crdt uses the standard library and internal/densemap only",
		From:    []string{p("crdt/...")},
		StdOnly: true,
		Allow:   []string{p("internal/densemap")},
		// Pure: no I/O, clock, randomness or goroutine machinery, even from the
		// standard library.
		ForbidDirect: pure,
	},
	"internal/densemap": {
		Name:         "internal/densemap uses the standard library only, and is as pure as crdt",
		From:         []string{p("internal/densemap")},
		StdOnly:      true,
		ForbidDirect: pure,
	},
	"catalog": {
		Name:   "catalog does not import gossip or agent",
		From:   []string{p("catalog/...")},
		Forbid: []string{p("gossip/..."), p("agent/...")},
	},
	"gossip": {
		Name:   "gossip does not import catalog or agent (it declares the Store it needs)",
		From:   []string{p("gossip/...")},
		Forbid: []string{p("catalog/..."), p("agent/...")},
	},
	"probe": {
		Name:  "probe imports nothing of the project",
		From:  []string{p("probe/...")},
		Scope: []string{mod + "/..."},
	},
	"agent": {
		Name:   "agent never imports sim",
		From:   []string{p("agent/...")},
		Forbid: []string{p("sim/..."), p("cmd/...")},
	},
	"api": {
		Name:    "api imports the standard library only",
		From:    []string{p("api/...")},
		StdOnly: true,
	},
	"internal/atomicfile": {
		Name:    "internal/atomicfile imports the standard library only",
		From:    []string{p("internal/atomicfile/...")},
		StdOnly: true,
	},
	"internal/httpserve": {
		Name:  "internal/httpserve imports nothing of the project",
		From:  []string{p("internal/httpserve/...")},
		Scope: []string{mod + "/..."},
	},
	"internal/render": {
		Name:  "internal/render imports nothing of the project but api",
		From:  []string{p("internal/render/...")},
		Scope: []string{mod + "/..."},
		Allow: []string{p("api")},
	},
	"sim": {Name: "sim may import any package (the table's —)"},
	"cmd/grapevine": {
		Name:   "the agent binary (cmd/grapevine) links neither the simulator nor gonum",
		From:   []string{p("cmd/grapevine")},
		Forbid: []string{p("sim/..."), "gonum.org/...", "codeberg.org/go-pdf/...", "codeberg.org/go-fonts/..."},
	},
}

// more are rules beyond the table.
var more = []Rule{
	{
		Name: "the product does not link test helpers (they are for tests)",
		From: []string{
			p("agent"), p("agent/dnsserver"), p("api/..."), p("catalog"), p("crdt/..."), p("gossip"),
			p("probe/..."), p("internal/render/..."), p("internal/sdnotify/..."), p("internal/msgpackcheck/..."), p("internal/atomicfile/..."), p("internal/densemap"), p("cmd/grapevine"),
		},
		Forbid: []string{p("agent/agenttest"), p("catalog/catalogtest"), p("gossip/gossiptest"), p("internal/leaktest"), p("internal/testaddr"), "testing", "net/http/httptest"},
	},
}

func root(t *testing.T) string {
	t.Helper()
	dir, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

func load(t *testing.T) Graph {
	t.Helper()
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("no go command")
	}
	g, err := Load(t.Context(), root(t), "./...")
	if err != nil {
		t.Fatal(err)
	}
	return g
}

// TestLayering enforces every rule on the module's packages.
func TestLayering(t *testing.T) {
	g := load(t)
	if g[p("agent")] == nil || g[p("crdt")] == nil {
		t.Fatalf("graph lacks the module's packages (%d packages)", len(g))
	}
	rules := slices.Clone(more)
	for _, r := range rows {
		rules = append(rules, r)
	}
	for _, v := range Check(g, rules) {
		t.Error(v)
	}
}

// TestPackageComments: every package of the module has a package comment in
// the standard form ("Package name ..." or, for a command, "Command name ...").
func TestPackageComments(t *testing.T) {
	g := load(t)
	n := 0
	for path, pkg := range g {
		if !Match(mod+"/...", path) {
			continue
		}
		n++
		want := "Package " + pkg.Name + " "
		if pkg.Name == "main" {
			want = "Command "
		}
		if !strings.HasPrefix(pkg.Doc, want) {
			t.Errorf("%s: package comment %q, want one starting %q (in doc.go)", path, pkg.Doc, want)
		}
	}
	if n < 10 {
		t.Fatalf("only %d packages of the module found", n)
	}
}

// TestTableHasRules: every row of docs/architecture.md's layering table has a
// rule here, and every rule here a row there.
func TestTableHasRules(t *testing.T) {
	f, err := os.Open(filepath.Join(root(t), "docs", "architecture.md"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	row := regexp.MustCompile("^\\| `([a-z/]+)` \\|")
	var table []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if m := row.FindStringSubmatch(sc.Text()); m != nil {
			table = append(table, m[1])
		}
	}
	if len(table) < 5 {
		t.Fatalf("found %d rows in docs/architecture.md's layering table", len(table))
	}
	for _, pkg := range table {
		if _, ok := rows[pkg]; !ok {
			t.Errorf("docs/architecture.md has a row for %s but deptest has no rule for it", pkg)
		}
	}
	for pkg := range rows {
		if !slices.Contains(table, pkg) {
			t.Errorf("deptest has a rule for %s but docs/architecture.md's table no row", pkg)
		}
	}
}
