package main

import (
	"context"
	"io"
	"net"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/grapevine-sd/grapevine/agent/agenttest"
	"github.com/grapevine-sd/grapevine/internal/sdnotify"
	"github.com/rs/zerolog"
)

// TestAgentNotifiesSystemd: under Type=notify the agent reports READY=1 only
// once it is listening (its HTTP API answers), and STOPPING=1 when it leaves.
func TestAgentNotifiesSystemd(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "notify.sock")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		t.Skipf("unixgram sockets unavailable: %v", err)
	}
	defer conn.Close()
	t.Setenv(sdnotify.EnvSocket, sock)

	cfg := agenttest.Config(t, "notify")
	var logs agenttest.LockedBuffer // where the agent says which port it got
	cfg.Logger = zerolog.New(&logs)

	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- runAgent(ctx, cfg, io.Discard) }()
	defer func() { cancel(); <-done }()

	read := func() string {
		t.Helper()
		buf := make([]byte, 512)
		conn.SetReadDeadline(time.Now().Add(20 * time.Second))
		n, err := conn.Read(buf)
		if err != nil {
			t.Fatalf("no notification: %v", err)
		}
		return string(buf[:n])
	}
	if got := read(); got != sdnotify.Ready {
		t.Fatalf("first notification %q, want %q", got, sdnotify.Ready)
	}
	m := regexp.MustCompile(`"addr":"([^"]+)","message":"http api listening"`).FindStringSubmatch(logs.String())
	if m == nil {
		t.Fatalf("READY=1 before the HTTP API listens (no listening line in the log):\n%s", logs.String())
	}
	if c, err := net.DialTimeout("tcp", m[1], 10*time.Second); err != nil {
		t.Errorf("READY=1 before the HTTP API listens: %v", err)
	} else {
		c.Close()
	}
	cancel()
	if got := read(); !strings.Contains(got, sdnotify.Stopping) {
		t.Errorf("notification on shutdown %q, want %q", got, sdnotify.Stopping)
	}
	if err := <-done; err != nil {
		t.Errorf("runAgent: %v", err)
	}
	done <- nil // for the deferred wait
}

func TestDevBanner(t *testing.T) {
	tests := []struct {
		name, bin, http, dns string
		want, not            []string
	}{
		{"default ports", "bin/grapevine", "127.0.0.1:7947", "127.0.0.1:7948",
			[]string{"try: bin/grapevine lookup demo\n", "curl -s http://127.0.0.1:7947/v1/services/demo", "dig @127.0.0.1 -p 7948 demo.service.grapevine.", "http://127.0.0.1:7947/ui"},
			[]string{"-http"}},
		{"moved ports", "./grapevine", "127.0.0.1:9000", "127.0.0.1:9001",
			[]string{"try: ./grapevine lookup -http 127.0.0.1:9000 demo\n", "curl -s http://127.0.0.1:9000/v1/services/demo", "dig @127.0.0.1 -p 9001"},
			nil},
		{"no dns", "grapevine", "127.0.0.1:7947", "",
			[]string{"DNS off", "grapevine lookup demo"},
			[]string{"dig"}},
	}
	for _, tc := range tests {
		got := devBanner("dev", tc.bin, tc.http, tc.dns)
		for _, w := range tc.want {
			if !strings.Contains(got, w) {
				t.Errorf("%s: banner lacks %q:\n%s", tc.name, w, got)
			}
		}
		for _, n := range tc.not {
			if strings.Contains(got, n) {
				t.Errorf("%s: banner has %q:\n%s", tc.name, n, got)
			}
		}
	}
	if got := binaryName("/tmp/go-build123/b001/exe/grapevine"); got != "grapevine" {
		t.Errorf("binaryName of a go run build = %q", got)
	}
}
