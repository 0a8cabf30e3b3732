// Package sdnotify tells a service manager about the process's state with the
// systemd notification protocol (sd_notify(3)): one datagram of newline-separated
// KEY=VALUE assignments sent to the unix socket named by $NOTIFY_SOCKET.
//
// Only the standard library is used. Without $NOTIFY_SOCKET (not started by
// systemd with Type=notify) every call does nothing and reports false. A path
// starting with '@' names a socket in the abstract namespace. Safe for
// concurrent use; nothing is kept between calls.
package sdnotify

import (
	"fmt"
	"net"
	"os"
	"strings"
)

// The states the agent reports.
const (
	Ready     = "READY=1"     // startup finished: listeners are up
	Reloading = "RELOADING=1" // reloading configuration (followed by Ready)
	Stopping  = "STOPPING=1"  // shutdown began
)

// EnvSocket is the environment variable that names the notification socket.
const EnvSocket = "NOTIFY_SOCKET"

// Notify sends state to the socket named by $NOTIFY_SOCKET. It reports whether
// a notification was sent; with the variable unset it returns false, nil.
func Notify(state string) (bool, error) {
	return NotifySocket(os.Getenv(EnvSocket), state)
}

// NotifySocket sends state to the unixgram socket at path ("" does nothing).
func NotifySocket(path, state string) (bool, error) {
	if path == "" {
		return false, nil
	}
	if path[0] != '/' && path[0] != '@' {
		return false, fmt.Errorf("sdnotify: %s=%q: want an absolute path or @abstract name", EnvSocket, path)
	}
	if strings.ContainsRune(state, 0) {
		return false, fmt.Errorf("sdnotify: state contains a NUL byte")
	}
	addr := &net.UnixAddr{Name: path, Net: "unixgram"}
	if path[0] == '@' {
		addr.Name = "\x00" + path[1:]
	}
	conn, err := net.DialUnix("unixgram", nil, addr)
	if err != nil {
		return false, fmt.Errorf("sdnotify: %w", err)
	}
	defer conn.Close()
	if _, err := conn.Write([]byte(state)); err != nil {
		return false, fmt.Errorf("sdnotify: %w", err)
	}
	return true, nil
}
