//go:build !unix

package testaddr

import (
	"net"
	"net/netip"
	"testing"
)

// refused finds a free port and releases it: elsewhere than on Unix another
// program may take it before the test connects.
func refused(tb testing.TB) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatalf("testaddr: %v", err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	return addr
}

// hold holds nothing elsewhere than on Unix.
func hold(netip.AddrPort) (release func()) { return func() {} }
