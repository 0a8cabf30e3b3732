// Package testaddr gives tests loopback addresses that stay what the test
// needs for its whole life. Refused is an address that refuses TCP
// connections: a port found free and released ("listen on port 0, close,
// use the address") can be bound by any other program before the test
// connects to it, which is a flaky test on a busy machine; Refused keeps the
// port bound, without listening, until the test ends.
package testaddr

import "testing"

// Refused returns a 127.0.0.1 host:port where nothing listens, for the whole
// test: connections to it are refused, and no other program can take the
// port meanwhile (on Unix; elsewhere the port is found free and released).
func Refused(tb testing.TB) string {
	tb.Helper()
	return refused(tb)
}
