//go:build !linux

package dnsserver

import (
	"net"
	"syscall"
)

// reusePort is nil: the workers share one socket.
var reusePort func(network, address string, c syscall.RawConn) error

func (s *Server) serveUDP(w *worker, conn *net.UDPConn) { s.serveUDPSimple(w, conn) }
