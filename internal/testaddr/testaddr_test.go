//go:build unix

package testaddr

import (
	"errors"
	"net"
	"net/netip"
	"syscall"
	"testing"
	"time"
)

// The address refuses connections, and the port cannot be listened on by
// anyone else while the test runs.
func TestRefused(t *testing.T) {
	addr := Refused(t)
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err == nil {
		c.Close()
		t.Fatalf("dial %s succeeded, want refused", addr)
	}
	if !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("dial %s: %v, want connection refused", addr, err)
	}
	if ln, err := net.Listen("tcp", addr); err == nil {
		ln.Close()
		t.Errorf("listen on %s succeeded while Refused holds it", addr)
	}
}

// A held address refuses connections and its UDP port cannot be bound until
// it is released; then both can.
func TestHold(t *testing.T) {
	var addr string // a port free for TCP and UDP, as a stopped agent's gossip port is
	for range 20 {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		a := ln.Addr().String()
		pc, err := net.ListenPacket("udp", a)
		ln.Close()
		if err == nil {
			pc.Close()
			addr = a
			break
		}
	}
	if addr == "" {
		t.Fatal("no port free for both TCP and UDP")
	}
	release := Hold(t, addr)
	if c, err := net.DialTimeout("tcp", addr, 5*time.Second); err == nil {
		c.Close()
		t.Errorf("dial %s while held succeeded, want refused", addr)
	}
	// Its TCP port is bound with SO_REUSEADDR, which an explicit bind with
	// it may share (only the stopped process binds that port by number);
	// one without it fails.
	if fd, err := boundSocket(syscall.SOCK_STREAM, netip.MustParseAddrPort(addr), false); err == nil {
		syscall.Close(fd)
		t.Errorf("tcp bind of %s succeeded while held", addr)
	}
	if pc, err := net.ListenPacket("udp", addr); err == nil {
		pc.Close()
		t.Errorf("listen udp on %s succeeded while held", addr)
	}
	release()
	l, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("listen tcp on %s after release: %v", addr, err)
	}
	l.Close()
	pc, err := net.ListenPacket("udp", addr)
	if err != nil {
		t.Fatalf("listen udp on %s after release: %v", addr, err)
	}
	pc.Close()
	release() // idempotent
}

// The port of a process that just stopped still has its connections
// closing (TIME_WAIT), which refuse a plain bind: Hold's TCP bind (with
// SO_REUSEADDR) takes the port all the same.
func TestHoldOverTimeWait(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	s, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	s.Close() // the server closes first: its side goes to TIME_WAIT
	_, _ = c.Read(make([]byte, 1))
	c.Close()
	ln.Close()
	ap := netip.MustParseAddrPort(addr)
	if fd, err := boundSocket(syscall.SOCK_STREAM, ap, false); err == nil {
		syscall.Close(fd)
		t.Skip("no TIME_WAIT conflict on this system")
	}
	fd, err := boundSocket(syscall.SOCK_STREAM, ap, true)
	if err != nil {
		t.Fatalf("hold's TCP bind over TIME_WAIT on %s: %v", addr, err)
	}
	syscall.Close(fd)
}
