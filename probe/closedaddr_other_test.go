//go:build !unix

package probe

import (
	"net"
	"testing"
)

// closedAddr returns a loopback address nobody listens on (a port found free
// and released: elsewhere than on Unix, another program may take it first).
func closedAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	return addr
}
