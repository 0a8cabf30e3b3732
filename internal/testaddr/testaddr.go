// Package testaddr gives tests loopback addresses that stay what the test
// needs for its whole life. Refused is an address that refuses TCP
// connections: a port found free and released ("listen on port 0, close,
// use the address") can be bound by any other program before the test
// connects to it, which is a flaky test on a busy machine; Refused keeps the
// port bound, without listening, until the test ends. Hold does the same for
// the address of a process that is down and will be restarted on it.
package testaddr

import (
	"net/netip"
	"testing"
)

// Refused returns a 127.0.0.1 host:port where nothing listens, for the whole
// test: connections to it are refused, and no other program can take the
// port meanwhile (on Unix; elsewhere the port is found free and released).
func Refused(tb testing.TB) string {
	tb.Helper()
	return refused(tb)
}

// Hold keeps addr (an IPv4 host:port a stopped process listened on) bound,
// TCP without listening and UDP, so that no other socket of the machine
// takes the port while the process is down: connections are refused and
// datagrams dropped as if nothing were there. Call the returned release just
// before the process starts again on addr; the test's cleanup releases too.
// Holding is best effort: what the system refuses to bind (a connection of
// the stopped process still closing, say) is left free.
func Hold(tb testing.TB, addr string) (release func()) {
	tb.Helper()
	ap, err := netip.ParseAddrPort(addr)
	if err != nil {
		tb.Fatalf("testaddr: hold %q: %v", addr, err)
	}
	release = hold(ap)
	tb.Cleanup(release)
	return release
}
