package sdnotify

import (
	"net"
	"path/filepath"
	"testing"
	"time"
)

// listen opens a unixgram socket like systemd's notification socket.
func listen(t *testing.T, name string) *net.UnixConn {
	t.Helper()
	c, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: name, Net: "unixgram"})
	if err != nil {
		t.Skipf("unixgram sockets unavailable: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func receive(t *testing.T, c *net.UnixConn) string {
	t.Helper()
	buf := make([]byte, 4096)
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, err := c.Read(buf)
	if err != nil {
		t.Fatalf("read notification: %v", err)
	}
	return string(buf[:n])
}

func TestNotify(t *testing.T) {
	path := filepath.Join(t.TempDir(), "notify.sock")
	c := listen(t, path)
	t.Setenv(EnvSocket, path)
	for _, state := range []string{Ready, Reloading, Stopping, "STATUS=leaving\nSTOPPING=1"} {
		sent, err := Notify(state)
		if !sent || err != nil {
			t.Fatalf("Notify(%q) = %v, %v; want true, nil", state, sent, err)
		}
		if got := receive(t, c); got != state {
			t.Errorf("socket got %q, want %q", got, state)
		}
	}
}

func TestNotifyAbstract(t *testing.T) {
	name := "grapevine-sdnotify-test-" + filepath.Base(t.TempDir())
	c := listen(t, "\x00"+name)
	if sent, err := NotifySocket("@"+name, Ready); !sent || err != nil {
		t.Fatalf("NotifySocket(@%s) = %v, %v", name, sent, err)
	}
	if got := receive(t, c); got != Ready {
		t.Errorf("got %q, want %q", got, Ready)
	}
}

func TestNotifyWithoutSocket(t *testing.T) {
	t.Setenv(EnvSocket, "")
	if sent, err := Notify(Ready); sent || err != nil {
		t.Errorf("Notify without %s = %v, %v; want false, nil", EnvSocket, sent, err)
	}
}

func TestNotifyErrors(t *testing.T) {
	for _, tc := range []struct{ path, state string }{
		{"relative/sock", Ready},
		{filepath.Join(t.TempDir(), "missing.sock"), Ready},
		{"/tmp/x.sock", "READY=1\x00"},
	} {
		if sent, err := NotifySocket(tc.path, tc.state); sent || err == nil {
			t.Errorf("NotifySocket(%q, %q) = %v, %v; want false and an error", tc.path, tc.state, sent, err)
		}
	}
}
