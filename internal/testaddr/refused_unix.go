//go:build unix

package testaddr

import (
	"net"
	"strconv"
	"syscall"
	"testing"
)

// refused holds the port with a TCP socket bound without listening and
// without SO_REUSEADDR: connects are answered with a reset, and no other
// socket can bind the port until the cleanup closes it.
func refused(tb testing.TB) string {
	syscall.ForkLock.RLock() // not inherited by the programs a test starts
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM, 0)
	if err == nil {
		syscall.CloseOnExec(fd)
	}
	syscall.ForkLock.RUnlock()
	if err != nil {
		tb.Fatalf("testaddr: socket: %v", err)
	}
	tb.Cleanup(func() { syscall.Close(fd) })
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		tb.Fatalf("testaddr: bind: %v", err)
	}
	sa, err := syscall.Getsockname(fd)
	if err != nil {
		tb.Fatalf("testaddr: getsockname: %v", err)
	}
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(sa.(*syscall.SockaddrInet4).Port))
}
