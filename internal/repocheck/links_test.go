package repocheck

import (
	"bytes"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// docName is a conventional upper-case document name (README.md, NOTES.md)
// named in prose or comments: the repository must hold a file of that name, or
// the reader is sent to a document they cannot open.
var docName = regexp.MustCompile(`(?:^|[^\w./-])([A-Z][A-Z0-9_-]*\.md)\b`)

// upPath is a relative path that climbs out of the file's directory in prose
// or comments (../notes/x.md); links are checked separately.
var upPath = regexp.MustCompile(`(?:^|[\s(\x60"'])((?:\.\./)+[\w.-][\w./-]*)`)

// mdLink is a Markdown link or image target: [text](target) or ![alt](target).
var mdLink = regexp.MustCompile(`\]\(([^()\s]+)(?:\s+"[^"]*")?\)`)

// htmlRef is an HTML src/href attribute in Markdown.
var htmlRef = regexp.MustCompile(`(?:src|href)="([^"]+)"`)

// repoPath is a file or directory named from the repository's root in prose or
// comments: docs/x.md, dist/grapevine.service, agent/services.go, sim/scenarios/.
// A file needs an extension and a directory a trailing slash (agent/nginx in
// prose is not a path); it must not continue a longer path or an import path
// (github.com/…/agent/x.go).
var repoPath = regexp.MustCompile(`(^|[^\w./-])((?:docs|dist|agent|api|catalog|cmd|crdt|gossip|internal|probe|sim|mk)/(?:[\w.-]+/)*(?:[\w-]+\.\w+|))(.?)`)

// textFiles lists the repository's files that people read: tracked and new
// (not ignored) files with a text extension.
func textFiles(t *testing.T, dir string) []string {
	t.Helper()
	var names []string
	if out, err := exec.Command("git", "-C", dir, "ls-files", "--cached", "--others", "--exclude-standard").Output(); err == nil {
		names = strings.Fields(string(out))
	} else { // not a git checkout: walk it
		filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.IsDir() && (d.Name() == ".git" || d.Name() == ".tools" || d.Name() == "bin") {
				return filepath.SkipDir
			}
			if !d.IsDir() {
				rel, _ := filepath.Rel(dir, p)
				names = append(names, filepath.ToSlash(rel))
			}
			return nil
		})
	}
	var out []string
	for _, n := range names {
		switch filepath.Ext(n) {
		case ".go", ".md", ".yaml", ".yml", ".json", ".service", ".mk", ".sh", ".tmpl", ".html", ".txt", ".golden":
		default:
			if base := filepath.Base(n); base != "Makefile" && base != "run" {
				continue
			}
		}
		if _, err := os.Stat(filepath.Join(dir, n)); err == nil { // deleted but not yet staged
			out = append(out, n)
		}
	}
	return out
}

// problem is one dangling or outside reference.
type problem struct {
	file string
	line int
	msg  string
}

// check returns the references in content (the file name, relative to root) that
// name a file that is not there or a file outside the repository. exists says
// whether a slash-separated path relative to root exists; named whether a file
// of that base name is anywhere in the repository.
func check(name string, content []byte, exists, named func(string) bool) []problem {
	var out []problem
	seen := map[string]bool{} // line:path, so a link is reported once
	dir := filepath.ToSlash(filepath.Dir(name))
	isMD := strings.HasSuffix(name, ".md")
	for i, line := range bytes.Split(content, []byte("\n")) {
		s := string(line)
		add := func(format string, args ...any) {
			out = append(out, problem{name, i + 1, fmt.Sprintf(format, args...)})
		}
		for _, m := range docName.FindAllStringSubmatch(s, -1) {
			if !named(m[1]) {
				add("names %q, which is not in the repository (write what is needed into docs/)", m[1])
			}
		}
		for _, m := range upPath.FindAllStringSubmatch(mdLink.ReplaceAllString(s, "]"), -1) { // links: below
			switch p := strings.TrimSuffix(joinRel(dir, strings.TrimRight(m[1], ".,;:")), "/"); {
			case strings.HasPrefix(p, ".tools/") || strings.HasPrefix(p, "bin/"):
				// build outputs (make deps, make build): not in a clean clone
			case p == ".." || strings.HasPrefix(p, "../"):
				add("names %q, a path outside the repository (write what is needed into docs/)", m[1])
			case !exists(p):
				add("names %q, which does not exist", m[1])
			}
		}
		if strings.HasSuffix(name, ".go") {
			// In Go, only comments: string literals hold fixtures and URL paths.
			_, comment, ok := strings.Cut(s, "//")
			if !ok {
				continue
			}
			s = comment
		}
		if isMD {
			var targets []string
			for _, m := range mdLink.FindAllStringSubmatch(s, -1) {
				targets = append(targets, m[1])
			}
			for _, m := range htmlRef.FindAllStringSubmatch(s, -1) {
				targets = append(targets, m[1])
			}
			for _, target := range targets {
				if external(target) {
					continue
				}
				p, _, _ := strings.Cut(target, "#")
				if p == "" {
					continue // an anchor in the same file
				}
				if strings.HasPrefix(p, "/") {
					add("links %q: an absolute path (link relative to the file)", target)
					continue
				}
				if !exists(joinRel(dir, p)) {
					add("links %q, which does not exist", target)
					seen[fmt.Sprintf("%d:%s", i, joinRel(dir, p))] = true
				}
			}
		}
		for _, m := range repoPath.FindAllStringSubmatch(s, -1) {
			p, next := m[2], m[3]
			if next == "*" || next == "<" || next == "{" || strings.Contains(p, "..") {
				continue // a pattern, not a file
			}
			if strings.HasSuffix(p, "/") && next == ":" {
				continue // an HTTP route with a parameter: agent/service/:id
			}
			if next != "" && (next[0] == '_' || next[0] == '-' || 'a' <= next[0] && next[0] <= 'z' || 'A' <= next[0] && next[0] <= 'Z' || '0' <= next[0] && next[0] <= '9') {
				continue // only the start of a longer word (agent/nginx)
			}
			p = strings.TrimSuffix(p, "/")
			if !exists(p) && !exists(joinRel(dir, p)) && !seen[fmt.Sprintf("%d:%s", i, p)] {
				add("names %q, which does not exist", p)
			}
		}
	}
	return out
}

// external reports whether a link target leaves the repository on purpose.
func external(target string) bool {
	for _, prefix := range []string{"http://", "https://", "mailto:", "data:", "{{"} {
		if strings.HasPrefix(target, prefix) {
			return true
		}
	}
	return false
}

// joinRel joins a relative link to the directory of the file holding it;
// the result is relative to the repository root ("" or "../x" leave it).
func joinRel(dir, p string) string {
	return filepath.ToSlash(filepath.Clean(filepath.Join(dir, p)))
}

// TestNoDanglingReferences: no file in the repository links a relative path that
// does not exist, names a repository path that does not exist, or names a file
// outside the repository.
func TestNoDanglingReferences(t *testing.T) {
	dir := root(t)
	exists := func(p string) bool {
		if p == ".." || strings.HasPrefix(p, "../") {
			return false
		}
		_, err := os.Stat(filepath.Join(dir, filepath.FromSlash(p)))
		return err == nil
	}
	files := textFiles(t, dir)
	if len(files) < 50 {
		t.Fatalf("found only %d files under %s", len(files), dir)
	}
	bases := map[string]bool{}
	for _, f := range files {
		bases[filepath.Base(f)] = true
	}
	named := func(base string) bool { return bases[base] }
	for _, name := range files {
		if name == "internal/repocheck/links_test.go" {
			continue // its fixtures name missing files on purpose
		}
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range check(name, b, exists, named) {
			t.Errorf("%s:%d: %s", p.file, p.line, p.msg)
		}
	}
}

// TestCheckFindsDanglingReferences: the checker itself catches each kind.
func TestCheckFindsDanglingReferences(t *testing.T) {
	there := map[string]bool{"docs": true, "docs/img": true, "docs/a.md": true, "docs/img/x.svg": true, "README.md": true, "agent": true, "agent/agent.go": true}
	exists := func(p string) bool { return there[p] }
	named := func(base string) bool { return base == "README.md" }
	tests := []struct {
		name, file, content string
		want                int
	}{
		{"good link", "docs/b.md", "see [a](a.md#top) and ![x](img/x.svg)", 0},
		{"link up", "docs/b.md", "[readme](../README.md)", 0},
		{"dangling link", "docs/b.md", "see [c](c.md)", 1},
		{"link leaves repo", "README.md", "[x](../outside.md)", 1},
		{"absolute link", "docs/b.md", "[x](/docs/a.md)", 1},
		{"external", "docs/b.md", "[x](https://example.com/y.md) [y](#anchor)", 0},
		{"html img", "README.md", `<img src="docs/img/none.svg">`, 1},
		{"go code is not checked", "agent/x.go", `write("crdt/crdt.go", "")`, 0},
		{"go comment is", "agent/x.go", `x := 1 // see docs/nope.md`, 1},
		{"route", "docs/b.md", "`agent/service/:id` and agent/check/update/:id", 0},
		{"unknown document", "agent/x.go", "// see PLAN.md", 1},
		{"unknown document in parentheses", "docs/b.md", "(NOTES.md)", 1},
		{"known document", "docs/b.md", "see README.md", 0},
		{"path out of the repository", "README.md", "as ../planning/notes.md says", 1},
		{"link out of the repository", "docs/b.md", "[x](../planning/notes.md)", 1},
		{"path up, still inside", "docs/b.md", "see ../README.md", 0},
		{"path up, missing", "docs/b.md", "see ../planning/notes.md", 1},
		{"repo path ok", "gossip/x.go", "// docs/a.md and agent/agent.go", 0},
		{"repo path missing", "gossip/x.go", "// docs/nope.md", 1},
		{"import path", "gossip/x.go", `"github.com/grapevine-sd/grapevine/agent/nope"`, 0},
		{"pattern", "docs/b.md", "agent/acl*.go and mk/<area>.mk", 0},
		{"end of sentence", "docs/b.md", "in docs/a.md.", 0},
		{"directory", "docs/b.md", "docs/ and docs/img/ but not nope/ or sim/gone/", 1},
		{"prose", "docs/b.md", "an agent/nginx comparison", 0},
	}
	for _, tc := range tests {
		if got := check(tc.file, []byte(tc.content), exists, named); len(got) != tc.want {
			t.Errorf("%s: %q in %s: got %d problems %v, want %d", tc.name, tc.content, tc.file, len(got), got, tc.want)
		}
	}
}
