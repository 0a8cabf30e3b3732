package probe

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/grapevine-sd/grapevine/internal/leaktest"
	"github.com/grapevine-sd/grapevine/internal/testaddr"
)

// runOnce builds c's probe (defaults applied, validated) and runs it once.
func runOnce(t *testing.T, c Check) (Status, string) {
	t.Helper()
	c = c.WithDefaults()
	if err := c.Validate(); err != nil {
		t.Fatalf("Validate: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), c.Timeout)
	defer cancel()
	return newProbe(c)(ctx)
}

func TestHTTPProbe(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/ok":
			_, _ = w.Write([]byte("all good"))
		case "/redirect":
			w.WriteHeader(http.StatusFound)
		case "/busy":
			w.WriteHeader(http.StatusTooManyRequests)
		case "/fail":
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = w.Write([]byte("db down"))
		case "/big":
			_, _ = w.Write([]byte(strings.Repeat("x", 10000)))
		case "/host":
			if r.Host != "svc.example" || r.Header.Get("X-Probe") != "1" || r.Method != http.MethodHead {
				w.WriteHeader(http.StatusBadRequest)
			}
		case "/slow":
			<-release
		}
	}))
	defer srv.Close()
	defer close(release) // before srv.Close: a blocked handler would hold it
	tests := []struct {
		name   string
		c      Check
		want   Status
		output string
	}{
		{"2xx", Check{Target: srv.URL + "/ok"}, Passing, "200 OK\nall good"},
		{"3xx not followed is critical", Check{Target: srv.URL + "/redirect"}, Critical, "302"},
		{"3xx in expect range", Check{Target: srv.URL + "/redirect", ExpectStatus: &StatusRange{200, 399}}, Passing, "302"},
		{"429", Check{Target: srv.URL + "/busy"}, Warning, "429"},
		{"503", Check{Target: srv.URL + "/fail"}, Critical, "503 Service Unavailable\ndb down"},
		{"body cut", Check{Target: srv.URL + "/big"}, Passing, "xxx"},
		{"method host header", Check{Target: srv.URL + "/host", Method: "HEAD",
			Headers: map[string]string{"Host": "svc.example", "X-Probe": "1"}}, Passing, "200"},
		{"timeout", Check{Target: srv.URL + "/slow", Interval: time.Second, Timeout: 50 * time.Millisecond}, Critical, "timed out after 50ms"},
		{"refused", Check{Target: "http://" + testaddr.Refused(t) + "/"}, Critical, "refused"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.c.ID, tt.c.Type = "h", HTTP
			got, out := runOnce(t, tt.c)
			if got != tt.want || !strings.Contains(out, tt.output) {
				t.Errorf("got %s %q, want %s containing %q", got, out, tt.want, tt.output)
			}
			if len(out) > MaxOutput {
				t.Errorf("output is %d bytes, want <= %d", len(out), MaxOutput)
			}
		})
	}
}

func TestHTTPProbeNoRedirectFollow(t *testing.T) {
	// Following a redirect could leave the host; a check judges its target.
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/elsewhere" {
			hits.Add(1)
		}
		http.Redirect(w, r, "/elsewhere", http.StatusFound)
	}))
	defer srv.Close()
	if got, _ := runOnce(t, Check{ID: "h", Type: HTTP, Target: srv.URL + "/"}); got != Critical || hits.Load() != 0 {
		t.Errorf("got %s with %d redirect hits, want critical and 0", got, hits.Load())
	}
}

func TestTCPProbe(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	tests := []struct {
		name, target string
		want         Status
		output       string
	}{
		{"open", ln.Addr().String(), Passing, "success"},
		{"closed", testaddr.Refused(t), Critical, "refused"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, out := runOnce(t, Check{ID: "t", Type: TCP, Target: tt.target})
			if got != tt.want || !strings.Contains(out, tt.output) {
				t.Errorf("got %s %q, want %s containing %q", got, out, tt.want, tt.output)
			}
		})
	}
}

func TestExecProbe(t *testing.T) {
	tests := []struct {
		name   string
		args   []string
		want   Status
		output string
	}{
		{"true", []string{"/bin/true"}, Passing, ""},
		{"false is exit 1", []string{"/bin/false"}, Warning, ""},
		{"exit 2", []string{"sh", "-c", "echo broken >&2; exit 2"}, Critical, "broken\n"},
		{"stdout captured", []string{"sh", "-c", "echo hello; exit 1"}, Warning, "hello\n"},
		{"no shell: argv is literal", []string{"/bin/echo", "$HOME; exit 3"}, Passing, "$HOME; exit 3\n"},
		{"not found", []string{"/nonexistent/check"}, Critical, "no such file"},
		{"output bounded", []string{"sh", "-c", "yes | head -c 100000"}, Passing, "(output truncated)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, out := runOnce(t, Check{ID: "e", Type: Exec, Args: tt.args})
			if got != tt.want || !strings.Contains(out, tt.output) {
				t.Errorf("got %s %q, want %s containing %q", got, truncate(out, 200), tt.want, tt.output)
			}
			if len(out) > MaxOutput {
				t.Errorf("output is %d bytes, want <= %d", len(out), MaxOutput)
			}
		})
	}
}

func TestExecTimeoutKillsProcessGroup(t *testing.T) {
	// sh starts sleep, which inherits the output pipe: killing only sh would
	// leave Run waiting for the pipe until WaitDelay, and sleep running. The
	// kill is checked on sleep itself, not on how long Run took (a loaded
	// machine can be slow either way).
	pidFile := filepath.Join(t.TempDir(), "pid")
	start := time.Now()
	got, out := runOnce(t, Check{ID: "e", Type: Exec, Args: []string{"sh", "-c", "echo started; sleep 30 & echo $! > " + pidFile + "; wait; echo never"},
		Interval: time.Second, Timeout: 200 * time.Millisecond})
	took := time.Since(start)
	if got != Critical || !strings.Contains(out, "timed out after 200ms") || !strings.Contains(out, "started") {
		t.Errorf("got %s %q, want critical timeout with partial output", got, out)
	}
	if err := leaktest.WaitPIDFile(pidFile, 10*time.Second); err != nil {
		t.Errorf("the process group was not killed (Run returned after %v): sleep: %v", took, err)
	}
}

func TestCapWriter(t *testing.T) {
	w := &capWriter{max: 5}
	for _, p := range []string{"abc", "defg", "h"} {
		if n, err := w.Write([]byte(p)); n != len(p) || err != nil {
			t.Fatalf("Write(%q) = %d, %v", p, n, err)
		}
	}
	if w.String() != "abcde" || !w.cut {
		t.Errorf("got %q cut=%v, want \"abcde\" cut=true", w.String(), w.cut)
	}
}
