//go:build linux

package dnsserver

import (
	"errors"
	"net"
	"net/netip"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// On Linux, UDP is served in batches: one recvmmsg takes up to udpBatch
// queries, one sendmmsg returns their answers (as authoritative servers in
// C do). Every buffer, header and callback is allocated once per worker, so
// a batch costs two system calls and no allocation.

const (
	udpBatch   = 32
	udpMaxRecv = 4096 // bytes of a query; larger datagrams are dropped
	ctlLen     = 64   // room for one IPV6_PKTINFO or IP_PKTINFO message
)

// mmsghdr is struct mmsghdr: Go pads it as C does on every Linux arch.
type mmsghdr struct {
	hdr unix.Msghdr
	n   uint32
}

type udpBatchState struct {
	// pktinfo is the family of destination-address control messages (4 or
	// 6; 0 when the socket is bound to one address): a socket bound to all
	// addresses answers from the address each query was sent to.
	pktinfo int
	inCtl   [udpBatch][ctlLen]byte
	outCtl  [udpBatch][ctlLen]byte
	in      [udpBatch]mmsghdr
	inIov   [udpBatch]unix.Iovec
	names   [udpBatch]unix.RawSockaddrInet6 // room for either family
	bufs    [udpBatch][]byte
	out     [udpBatch]mmsghdr
	outIov  [udpBatch]unix.Iovec
	outBufs [udpBatch][]byte

	got      int // messages received by the last recv
	toSend   int // answers in out
	sent     int // answers sent so far
	errno    syscall.Errno
	recv     func(fd uintptr) bool
	send     func(fd uintptr) bool
	outLimit int
}

// reusePort sets SO_REUSEPORT on a socket (see Server.listen for when).
var reusePort = func(network, address string, c syscall.RawConn) error {
	var serr error
	err := c.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEPORT, 1)
	})
	if err != nil {
		return err
	}
	return serr
}

func (s *Server) serveUDP(w *worker, conn *net.UDPConn) {
	rc, err := conn.SyscallConn()
	if err != nil {
		s.serveUDPSimple(w, conn)
		return
	}
	b := &udpBatchState{outLimit: max(s.cfg.MaxUDPSize, udpMaxRecv+64)}
	if s.listenIP.IsUnspecified() {
		b.pktinfo = enablePktinfo(rc)
	}
	for i := range b.bufs {
		b.bufs[i] = make([]byte, udpMaxRecv)
		b.outBufs[i] = make([]byte, 0, b.outLimit)
	}
	b.recv = func(fd uintptr) bool {
		for i := range b.in {
			b.in[i].hdr.Name = (*byte)(unsafe.Pointer(&b.names[i]))
			b.in[i].hdr.Namelen = uint32(unsafe.Sizeof(b.names[i]))
			b.inIov[i].Base = &b.bufs[i][0]
			b.inIov[i].SetLen(len(b.bufs[i]))
			b.in[i].hdr.Iov = &b.inIov[i]
			b.in[i].hdr.SetIovlen(1)
			b.in[i].hdr.Flags = 0
			if b.pktinfo != 0 {
				b.in[i].hdr.Control = &b.inCtl[i][0]
				b.in[i].hdr.SetControllen(ctlLen)
			}
		}
		n, _, e := unix.Syscall6(unix.SYS_RECVMMSG, fd, uintptr(unsafe.Pointer(&b.in[0])), udpBatch, 0, 0, 0)
		if e == unix.EAGAIN || e == unix.EINTR {
			return false // wait until readable
		}
		b.got, b.errno = int(n), e
		return true
	}
	b.send = func(fd uintptr) bool {
		for b.sent < b.toSend {
			n, _, e := unix.Syscall6(unix.SYS_SENDMMSG, fd, uintptr(unsafe.Pointer(&b.out[b.sent])), uintptr(b.toSend-b.sent), 0, 0, 0)
			switch {
			case e == unix.EAGAIN:
				return false // wait until writable
			case e == unix.EINTR:
				continue
			case e != 0:
				// One answer failed (e.g. an unreachable client): skip it.
				b.errno = e
				b.sent++
				continue
			}
			b.sent += int(n)
		}
		return true
	}
	for {
		b.errno = 0
		if err := rc.Read(b.recv); err != nil {
			return // closed
		}
		if b.errno != 0 {
			if b.errno == unix.EBADF {
				return
			}
			s.cfg.Logger.Debug().Err(b.errno).Msg("dns udp recvmmsg")
			continue
		}
		b.toSend, b.sent = 0, 0
		for i := range b.got {
			h := &b.in[i]
			if h.hdr.Flags&unix.MSG_TRUNC != 0 {
				w.st.malformed.Add(1)
				continue
			}
			from := sockaddrAddr(&b.names[i])
			w.out = b.outBufs[i][:0]
			resp := s.safeRespond(w, b.bufs[i][:h.n], true, from)
			if resp == nil {
				continue
			}
			o := &b.out[b.toSend]
			o.hdr.Name = h.hdr.Name
			o.hdr.Namelen = h.hdr.Namelen
			b.outIov[b.toSend].Base = &resp[0]
			b.outIov[b.toSend].SetLen(len(resp))
			o.hdr.Iov = &b.outIov[b.toSend]
			o.hdr.SetIovlen(1)
			o.hdr.Control, o.hdr.Controllen = nil, 0
			if b.pktinfo != 0 {
				if n := replyPktinfo(b.pktinfo, b.inCtl[i][:h.hdr.Controllen], &b.outCtl[b.toSend]); n > 0 {
					o.hdr.Control = &b.outCtl[b.toSend][0]
					o.hdr.SetControllen(n)
				}
			}
			b.toSend++
		}
		if b.toSend == 0 {
			continue
		}
		b.errno = 0
		if err := rc.Write(b.send); err != nil {
			if errors.Is(err, unix.EBADF) {
				return
			}
			return // closed
		}
		if b.errno != 0 {
			s.cfg.Logger.Debug().Err(b.errno).Msg("dns udp sendmmsg")
		}
	}
}

// enablePktinfo asks the kernel for each datagram's destination address and
// returns the family of the control messages (0 if neither works).
func enablePktinfo(rc syscall.RawConn) int {
	family := 0
	rc.Control(func(fd uintptr) {
		if unix.SetsockoptInt(int(fd), unix.IPPROTO_IPV6, unix.IPV6_RECVPKTINFO, 1) == nil {
			family = 6 // IPv4 on a dual-stack socket comes as IPV6_PKTINFO too
		} else if unix.SetsockoptInt(int(fd), unix.IPPROTO_IP, unix.IP_PKTINFO, 1) == nil {
			family = 4
		}
	})
	return family
}

// replyPktinfo finds the destination address in a received control buffer
// and writes into out the control message that sends the reply from it;
// it returns the length written (0 if none was found).
func replyPktinfo(family int, in []byte, out *[ctlLen]byte) int {
	hdrLen := unix.CmsgLen(0)
	for off := 0; off+unix.SizeofCmsghdr <= len(in); {
		h := (*unix.Cmsghdr)(unsafe.Pointer(&in[off]))
		l := int(h.Len)
		if l < hdrLen || off+l > len(in) {
			return 0
		}
		data := in[off+hdrLen : off+l]
		switch {
		case family == 6 && h.Level == unix.IPPROTO_IPV6 && h.Type == unix.IPV6_PKTINFO && len(data) >= unix.SizeofInet6Pktinfo:
			var pi unix.Inet6Pktinfo
			copy(pi.Addr[:], data[:16]) // the destination; the interface is left to routing
			return putCmsg(out, unix.IPPROTO_IPV6, unix.IPV6_PKTINFO, unsafe.Pointer(&pi), unix.SizeofInet6Pktinfo)
		case family == 4 && h.Level == unix.IPPROTO_IP && h.Type == unix.IP_PKTINFO && len(data) >= unix.SizeofInet4Pktinfo:
			var pi unix.Inet4Pktinfo
			copy(pi.Spec_dst[:], data[8:12]) // ipi_addr: the header's destination
			return putCmsg(out, unix.IPPROTO_IP, unix.IP_PKTINFO, unsafe.Pointer(&pi), unix.SizeofInet4Pktinfo)
		}
		off += unix.CmsgSpace(l - hdrLen)
	}
	return 0
}

func putCmsg(out *[ctlLen]byte, level, typ int32, data unsafe.Pointer, n int) int {
	clear(out[:])
	h := (*unix.Cmsghdr)(unsafe.Pointer(&out[0]))
	h.Level, h.Type = level, typ
	h.SetLen(unix.CmsgLen(n))
	copy(out[unix.CmsgLen(0):], unsafe.Slice((*byte)(data), n))
	return unix.CmsgSpace(n)
}

// sockaddrAddr reads the IP of a received sockaddr_in or sockaddr_in6.
func sockaddrAddr(sa *unix.RawSockaddrInet6) netip.Addr {
	switch sa.Family {
	case unix.AF_INET:
		v4 := (*unix.RawSockaddrInet4)(unsafe.Pointer(sa))
		return netip.AddrFrom4(v4.Addr)
	case unix.AF_INET6:
		return netip.AddrFrom16(sa.Addr).Unmap()
	}
	return netip.Addr{}
}
