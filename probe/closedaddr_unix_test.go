//go:build unix

package probe

import (
	"net"
	"strconv"
	"syscall"
	"testing"
)

// closedAddr returns a loopback address nobody listens on, for the whole
// test: a TCP socket holds the port bound without listening, so connects
// are refused and no other program can take the port meanwhile (a port
// found free and released could be bound by anyone before the probe).
func closedAddr(t *testing.T) string {
	t.Helper()
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Close(fd) })
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	sa, err := syscall.Getsockname(fd)
	if err != nil {
		t.Fatal(err)
	}
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(sa.(*syscall.SockaddrInet4).Port))
}
