package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/grapevine-sd/grapevine/internal/testaddr"
)

func TestRenderGolden(t *testing.T) {
	tests := []struct {
		name string
		args []string // after "grapevine", before -http
		code int
	}{
		{"render_haproxy_dry", []string{"render", "-once", "-dry", "-log-level", "warn", "-template", "testdata/render_haproxy.tmpl:/etc/haproxy/haproxy.cfg"}, exitOK},
		{"render_inventory_dry", []string{"render", "-once", "-dry", "-log-level", "warn", "-template", "testdata/render_inventory.tmpl:/tmp/inventory:echo not run in a dry run"}, exitOK},
		{"render_exec_error", []string{"render", "-once", "-dry", "-log-level", "warn", "-template", "testdata/render_exec_error.tmpl:x.cfg"}, exitRenderFailed},
		{"render_no_template", []string{"render", "-once"}, exitUsage},
		{"render_argument", []string{"render", "web", "-template", "testdata/render_haproxy.tmpl:x.cfg"}, exitUsage},
		{"render_bad_spec", []string{"render", "-template", "testdata/render_haproxy.tmpl"}, exitUsage},
		{"render_empty_command", []string{"render", "-template", "testdata/render_haproxy.tmpl:x.cfg:"}, exitUsage},
		{"render_bad_wait", []string{"render", "-template", "testdata/render_haproxy.tmpl:x.cfg", "-wait", "5s:1s"}, exitUsage},
		{"render_bad_exec_timeout", []string{"render", "-template", "testdata/render_haproxy.tmpl:x.cfg", "-exec-timeout", "0s"}, exitUsage},
		{"render_bad_log_level", []string{"render", "-template", "testdata/render_haproxy.tmpl:x.cfg", "-log-level", "loud"}, exitUsage},
		{"render_bad_function", []string{"render", "-template", "testdata/render_bad_function.tmpl:x.cfg"}, exitUsage},
		{"render_bad_filter", []string{"render", "-once", "-template", "testdata/render_haproxy.tmpl:x.cfg", "-template", "testdata/render_bad_filter.tmpl:y.cfg"}, exitUsage},
		{"render_missing_source", []string{"render", "-template", "testdata/render_nope.tmpl:x.cfg"}, exitUsage},
		{"render_missing_dir", []string{"render", "-template", "testdata/render_haproxy.tmpl:/nonexistent/haproxy/haproxy.cfg"}, exitUsage},
		{"render_same_dest", []string{"render", "-template", "testdata/render_haproxy.tmpl:x.cfg", "-template", "testdata/render_inventory.tmpl:./x.cfg"}, exitUsage},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			runGolden(t, tt.name, tt.args, tt.code)
			if _, err := os.Stat("x.cfg"); err == nil {
				t.Error("a file was written")
			}
		})
	}
}

// An unknown flag is a usage error naming the flag.
func TestRenderUnknownFlag(t *testing.T) {
	var out, errb bytes.Buffer
	code := run([]string{"grapevine", "render", "-template", "testdata/render_haproxy.tmpl:x.cfg", "-colour", "red"}, &out, &errb)
	if code != exitUsage || errb.String() != "grapevine: flag provided but not defined: -colour\n" {
		t.Errorf("exit %d, stderr %q", code, errb.String())
	}
}

// renderFiles writes a template into a temporary directory and returns its
// path and the path of the file it renders to.
func renderFiles(t *testing.T, text string) (src, dest string) {
	t.Helper()
	dir := t.TempDir()
	src, dest = filepath.Join(dir, "app.tmpl"), filepath.Join(dir, "app.cfg")
	if err := os.WriteFile(src, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return src, dest
}

func readString(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestRenderOnceWritesAndRunsCommand(t *testing.T) {
	f := newFakeAgent(t)
	src, dest := renderFiles(t, `{{range service "web"}}{{.ID}} {{end}}`)
	marker := filepath.Join(filepath.Dir(dest), "reloaded")
	args := []string{"grapevine", "render", "-once", "-http", f.srv.URL, "-template", src + ":" + dest + ":echo reloading, really; touch " + marker}
	var out, errb bytes.Buffer
	if code := run(args, &out, &errb); code != exitOK {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	if got := readString(t, dest); got != "web-1 web-2 web-4 " {
		t.Errorf("%s holds %q", dest, got)
	}
	if _, err := os.Stat(marker); err != nil {
		t.Errorf("the command did not run: %v", err)
	}
	if !strings.Contains(errb.String(), "reloading, really") || out.Len() != 0 {
		t.Errorf("stdout %q, stderr %q; want the command's output logged to stderr", out.String(), errb.String())
	}
	// Unchanged: no write, no command.
	os.Remove(marker)
	errb.Reset()
	if code := run(args, &out, &errb); code != exitOK {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	if _, err := os.Stat(marker); err == nil {
		t.Error("the command ran though the file did not change")
	}
}

func TestRenderOnceCommandFails(t *testing.T) {
	f := newFakeAgent(t)
	src, dest := renderFiles(t, `x`)
	var out, errb bytes.Buffer
	code := run([]string{"grapevine", "render", "-once", "-http", f.srv.URL, "-template", src + ":" + dest + ":exit 4"}, &out, &errb)
	if code != exitRenderFailed || !strings.Contains(errb.String(), "exit status 4") {
		t.Errorf("exit %d, stderr %q; want %d and the command's status", code, errb.String(), exitRenderFailed)
	}
	if got := readString(t, dest); got != "x" {
		t.Errorf("%s holds %q; the file is written before its command runs", dest, got)
	}
}

func TestRenderOnceAgentUnreachable(t *testing.T) {
	addr := testaddr.Refused(t) // no agent there, and no other program either
	src, dest := renderFiles(t, `{{range service "web"}}{{.ID}}{{end}}`)
	if err := os.WriteFile(dest, []byte("last good"), 0o644); err != nil {
		t.Fatal(err)
	}
	var out, errb bytes.Buffer
	code := run([]string{"grapevine", "render", "-once", "-http", addr, "-template", src + ":" + dest}, &out, &errb)
	if code != exitRenderFailed || !strings.Contains(errb.String(), "grapevine: agent unreachable: render: lookup failed: service \"web\"") {
		t.Errorf("exit %d, stderr %q; want %d and 'agent unreachable'", code, errb.String(), exitRenderFailed)
	}
	if got := readString(t, dest); got != "last good" {
		t.Errorf("%s holds %q, want it untouched", dest, got)
	}
}

// TestRenderSignals runs render until signals end it: SIGHUP re-reads the
// template (a bad one is logged and the old one kept), SIGTERM ends it with
// exit 0. The signals go to the test process itself, caught by render's
// handlers, which are in place once the first file is written.
func TestRenderSignals(t *testing.T) {
	f := newFakeAgent(t)
	src, dest := renderFiles(t, `v1 {{range service "web"}}{{.ID}} {{end}}`)
	var out, errb lockedBuffer
	done := make(chan int, 1)
	go func() {
		done <- runContext(context.Background(), []string{"grapevine", "render", "-http", f.srv.URL, "-wait", "10ms:50ms", "-template", src + ":" + dest}, &out, &errb)
	}()
	waitFile := func(want string) {
		t.Helper()
		deadline := time.Now().Add(15 * time.Second)
		for {
			b, _ := os.ReadFile(dest)
			if string(b) == want {
				return
			}
			select {
			case code := <-done:
				t.Fatalf("render ended with %d: %s", code, errb.String())
			default:
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s holds %q, want %q; stderr:\n%s", dest, b, want, errb.String())
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	waitFile("v1 web-1 web-2 web-4 ")

	if err := os.WriteFile(src, []byte(`v2 {{range service "web"}}{{.ID}} {{end}}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitFile("v2 web-1 web-2 web-4 ")

	if err := os.WriteFile(src, []byte(`v3 {{servise "web"}}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(15 * time.Second)
	for !strings.Contains(errb.String(), "reload failed") {
		if time.Now().After(deadline) {
			t.Fatalf("no reload failure logged:\n%s", errb.String())
		}
		time.Sleep(5 * time.Millisecond)
	}
	waitFile("v2 web-1 web-2 web-4 ")

	if err := syscall.Kill(os.Getpid(), syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case code := <-done:
		if code != exitOK {
			t.Errorf("exit %d after SIGTERM, want 0; stderr:\n%s", code, errb.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("render did not stop on SIGTERM")
	}
	if out.String() != "" {
		t.Errorf("stdout %q, want nothing without -dry", out.String())
	}
}
