//go:build unix

package testaddr

import (
	"net"
	"net/netip"
	"strconv"
	"syscall"
	"testing"
)

// refused holds the port with a TCP socket bound without listening and
// without SO_REUSEADDR: connects are answered with a reset, and no other
// socket can bind the port until the cleanup closes it.
func refused(tb testing.TB) string {
	fd, err := boundSocket(syscall.SOCK_STREAM, netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 0, 0, 1}), 0), false)
	if err != nil {
		tb.Fatalf("testaddr: %v", err)
	}
	tb.Cleanup(func() { syscall.Close(fd) })
	sa, err := syscall.Getsockname(fd)
	if err != nil {
		tb.Fatalf("testaddr: getsockname: %v", err)
	}
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(sa.(*syscall.SockaddrInet4).Port))
}

// hold binds a TCP socket (not listening) and a UDP socket to ap, as far as
// the system lets it. The TCP socket has SO_REUSEADDR: the stopped process's
// connections may still be closing on the port (TIME_WAIT), and they would
// refuse a plain bind; a port so bound is still never picked for another
// socket's port 0 or outgoing connection, and connects to it are refused.
func hold(ap netip.AddrPort) (release func()) {
	var fds []int
	if fd, err := boundSocket(syscall.SOCK_STREAM, ap, true); err == nil {
		fds = append(fds, fd)
	}
	if fd, err := boundSocket(syscall.SOCK_DGRAM, ap, false); err == nil {
		fds = append(fds, fd)
	}
	return func() {
		for _, fd := range fds {
			syscall.Close(fd)
		}
		fds = nil
	}
}

// boundSocket returns an IPv4 socket of typ bound to ap (with SO_REUSEADDR
// if reuse), close-on-exec (not inherited by the programs a test starts).
func boundSocket(typ int, ap netip.AddrPort, reuse bool) (int, error) {
	if !ap.Addr().Is4() {
		return -1, &net.AddrError{Err: "not an IPv4 address", Addr: ap.String()}
	}
	syscall.ForkLock.RLock()
	fd, err := syscall.Socket(syscall.AF_INET, typ, 0)
	if err == nil {
		syscall.CloseOnExec(fd)
	}
	syscall.ForkLock.RUnlock()
	if err != nil {
		return -1, err
	}
	if reuse {
		if err := syscall.SetsockoptInt(fd, syscall.SOL_SOCKET, syscall.SO_REUSEADDR, 1); err != nil {
			syscall.Close(fd)
			return -1, err
		}
	}
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Addr: ap.Addr().As4(), Port: int(ap.Port())}); err != nil {
		syscall.Close(fd)
		return -1, err
	}
	return fd, nil
}
