// Package deptest checks a module's import graph against layering rules, the
// way tailscale's dependency tests do: the graph comes from `go list -deps
// -json`, each Rule names the packages it constrains and what they may not
// reach, and Check returns every violation with the import chain that causes
// it. deptest_test.go holds Grapevine's own rules (docs/architecture.md's
// layering table and a few more); this file only loads and checks.
//
// Rules apply to the packages' non-test code, transitively: a package that may
// not import X may not import anything that imports X either. Check is a pure
// function of the graph, so rules are tested on synthetic graphs.
package deptest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"slices"
	"strings"
)

// Package is one node of the import graph (fields of `go list -json`).
type Package struct {
	ImportPath string
	Name       string
	Doc        string   // first sentence of the package comment
	Standard   bool     // in the standard library
	Imports    []string // direct imports of the non-test files
}

// Graph is an import graph by import path.
type Graph map[string]*Package

// Load runs `go list -deps -json patterns...` in dir and returns the graph of
// the matched packages and everything they import.
func Load(ctx context.Context, dir string, patterns ...string) (Graph, error) {
	cmd := exec.CommandContext(ctx, "go", append([]string{"list", "-deps", "-json"}, patterns...)...)
	cmd.Dir = dir
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("deptest: go list: %w: %s", err, bytes.TrimSpace(stderr.Bytes()))
	}
	g := Graph{}
	dec := json.NewDecoder(bytes.NewReader(out))
	for {
		var p Package
		if err := dec.Decode(&p); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			return nil, fmt.Errorf("deptest: go list output: %w", err)
		}
		g[p.ImportPath] = &p
	}
	return g, nil
}

// Match reports whether path matches pattern: the path itself, or with a
// "/..." suffix the path and everything under it ("gonum.org/..." matches
// every gonum package).
func Match(pattern, path string) bool {
	if prefix, ok := strings.CutSuffix(pattern, "/..."); ok {
		return path == prefix || strings.HasPrefix(path, prefix+"/")
	}
	return path == pattern
}

func matchAny(patterns []string, path string) bool {
	return slices.ContainsFunc(patterns, func(p string) bool { return Match(p, path) })
}

// Rule constrains the packages matching From.
type Rule struct {
	// Name says what the rule keeps true, for messages ("api imports the
	// standard library only").
	Name string
	// From are the constrained packages (patterns, see Match).
	From []string
	// Forbid are packages that From may not reach through any chain of imports.
	Forbid []string
	// ForbidDirect are packages that From may not import itself (a standard
	// package may still be reached through another one: crdt may not import
	// time, although strconv does nothing with clocks).
	ForbidDirect []string
	// StdOnly: From may reach the standard library only (and the packages
	// matching Allow, which their own rules keep to the standard library).
	StdOnly bool
	// Scope and Allow: of the packages matching Scope, From may reach only
	// those matching Allow (and From itself). With Scope the module, this says
	// which packages of the project a package may use; nil Scope checks nothing.
	Scope, Allow []string
}

// Violation is one broken rule: Chain leads from a constrained package to the
// package it may not reach.
type Violation struct {
	Rule  string
	Chain []string
}

func (v Violation) String() string {
	return fmt.Sprintf("%s: %s", v.Rule, strings.Join(v.Chain, " → "))
}

// Check returns every violation of rules in g: for each constrained package,
// the shortest import chain to each package it may not reach.
func Check(g Graph, rules []Rule) []Violation {
	var out []Violation
	for _, r := range rules {
		for _, from := range sortedKeys(g) {
			if !matchAny(r.From, from) {
				continue
			}
			for _, imp := range g[from].Imports {
				if matchAny(r.ForbidDirect, imp) {
					out = append(out, Violation{r.Name, []string{from, imp}})
				}
			}
			for to, chain := range reach(g, from) {
				if r.bad(g, from, to) && !r.through(g, chain) {
					out = append(out, Violation{r.Name, chain})
				}
			}
		}
	}
	slices.SortFunc(out, func(a, b Violation) int { return strings.Compare(a.String(), b.String()) })
	return out
}

// bad reports whether from may not reach to under r.
func (r Rule) bad(g Graph, from, to string) bool {
	if matchAny(r.Forbid, to) {
		return true
	}
	if r.StdOnly && (g[to] == nil || !g[to].Standard) && !matchAny(r.Allow, to) {
		return true
	}
	return matchAny(r.Scope, to) && !matchAny(r.From, to) && !matchAny(r.Allow, to)
}

// through reports whether chain reaches its end through a package that r
// already reports: only the first forbidden package on a chain is news (a
// module imported where the standard library only is allowed brings its own
// imports along).
func (r Rule) through(g Graph, chain []string) bool {
	for _, p := range chain[1 : len(chain)-1] {
		if r.bad(g, chain[0], p) {
			return true
		}
	}
	return false
}

// reach returns every package from imports directly or indirectly, each with a
// shortest import chain from from to it (breadth first).
func reach(g Graph, from string) map[string][]string {
	prev := map[string]string{from: ""}
	queue := []string{from}
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		if g[p] == nil {
			continue
		}
		for _, imp := range g[p].Imports {
			if imp == "C" {
				continue // cgo's pseudo-package
			}
			if _, ok := prev[imp]; !ok {
				prev[imp] = p
				queue = append(queue, imp)
			}
		}
	}
	out := make(map[string][]string, len(prev))
	for to := range prev {
		if to == from {
			continue
		}
		var chain []string
		for p := to; p != ""; p = prev[p] {
			chain = append(chain, p)
		}
		slices.Reverse(chain)
		out[to] = chain
	}
	return out
}

func sortedKeys(g Graph) []string {
	keys := make([]string, 0, len(g))
	for k := range g {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
