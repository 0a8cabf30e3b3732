package dnsserver

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/grapevine-sd/grapevine/internal/clientkey"
)

// Server is a running DNS server: UDP and TCP on one address.
type Server struct {
	cfg      Config
	src      Source
	domains  []domain
	serial   uint32
	listenIP netip.Addr
	cache    *cache
	hosts    *hostCache
	rrl      *limiter
	stats    []*stats // one per UDP worker, then one shared by TCP connections

	udp  *net.UDPConn   // the listener Addr reports
	udps []*net.UDPConn // every UDP socket: udp, and on Linux one more per worker (SO_REUSEPORT)
	tcp  *net.TCPListener

	mu    sync.Mutex // guards conns, closed
	conns map[net.Conn]struct{}
	// perClient counts the open TCP connections of each client (an
	// address, an IPv6 /64, all of loopback: clientkey), so one client
	// cannot take every slot (RFC 7766 §6.2.2).
	perClient map[netip.Prefix]int
	closed    bool

	tcpSlots    chan struct{}
	tcpRejected atomic.Uint64
	wg          sync.WaitGroup
	closeOnce   sync.Once
}

// Limits of the TCP side (RFC 7766): connections served at once, and how
// long one may stay idle or take to send a message or take our answer.
const (
	maxTCPConns    = 256
	maxTCPPerIP    = 16
	tcpIdleTimeout = 10 * time.Second
	tcpIOTimeout   = 5 * time.Second
	cacheEntries   = 1 << 14
)

// New validates cfg, binds its address (UDP, and TCP on the same port) and
// starts serving.
func New(cfg Config) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Addr == "" {
		return nil, fmt.Errorf("%w: addr is empty", ErrConfig)
	}
	if cfg.Source == nil {
		return nil, fmt.Errorf("%w: no source", ErrConfig)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.clientKey == nil {
		cfg.clientKey = clientkey.Of
	}
	if cfg.Resolver == nil {
		cfg.Resolver = net.DefaultResolver
	}
	s := &Server{
		cfg:       cfg,
		src:       cfg.Source,
		serial:    uint32(cfg.Now().Unix()),
		cache:     newCache(cacheEntries),
		hosts:     newHostCache(cfg.Resolver, cfg.Now),
		rrl:       newLimiter(cfg.RateLimit),
		conns:     map[net.Conn]struct{}{},
		perClient: map[netip.Prefix]int{},
		tcpSlots:  make(chan struct{}, maxTCPConns),
	}
	for _, d := range cfg.Domains {
		s.domains = append(s.domains, newDomain(d))
	}
	workers := max(2, runtime.GOMAXPROCS(0))
	if err := s.listen(workers); err != nil {
		s.hosts.close()
		return nil, err
	}
	if ap, err := netip.ParseAddrPort(s.udp.LocalAddr().String()); err == nil {
		s.listenIP = ap.Addr().Unmap()
	}
	if !s.listenIP.IsLoopback() && s.rrl == nil {
		cfg.Logger.Warn().Str("addr", s.Addr()).Msg("dns listens beyond loopback without response rate limiting (dns.rate_limit)")
	}
	for range workers {
		s.stats = append(s.stats, &stats{})
	}
	tcpStats := &stats{}
	s.stats = append(s.stats, tcpStats)
	for i := range workers {
		w := newWorker(s.stats[i], 65535)
		s.wg.Add(1)
		conn := s.udps[i%len(s.udps)]
		go func() {
			defer s.wg.Done()
			s.serveUDP(w, conn)
		}()
	}
	s.wg.Add(1)
	go s.acceptTCP(tcpStats)
	return s, nil
}

// listen binds UDP, then TCP on the same port. With port 0 the kernel picks
// a UDP port whose TCP twin may be taken: then it tries again. Where the
// system allows it, each UDP worker gets its own socket on the same port
// (SO_REUSEPORT), so workers never wait on each other's reads.
//
// The first UDP socket is bound without SO_REUSEPORT, which the kernel grants
// only on a port no other socket holds; the option is set once it is bound,
// for the workers' sockets to join. Bound with the option, a socket of the
// same user may land in (or on a fixed port, silently share) another
// process's group, which then gets part of this server's queries.
func (s *Server) listen(workers int) error {
	_, port, _ := net.SplitHostPort(s.cfg.Addr)
	for attempt := 0; ; attempt++ {
		udp, err := net.ListenPacket("udp", s.cfg.Addr)
		if err != nil {
			return fmt.Errorf("dnsserver: listen udp %s: %w", s.cfg.Addr, err)
		}
		tcp, err := net.Listen("tcp", udp.LocalAddr().String())
		if err != nil {
			udp.Close()
			if port == "0" && attempt < 20 {
				continue
			}
			return fmt.Errorf("dnsserver: listen tcp %s: %w", udp.LocalAddr(), err)
		}
		s.udp, s.tcp = udp.(*net.UDPConn), tcp.(*net.TCPListener)
		s.udps = []*net.UDPConn{s.udp}
		break
	}
	if reusePort == nil {
		return nil
	}
	if rc, err := s.udp.SyscallConn(); err != nil || reusePort("udp", s.Addr(), rc) != nil {
		return nil // the workers share the one socket
	}
	lc := net.ListenConfig{Control: reusePort}
	for len(s.udps) < workers {
		c, err := lc.ListenPacket(context.Background(), "udp", s.Addr())
		if err != nil {
			break // the workers share the sockets there are
		}
		s.udps = append(s.udps, c.(*net.UDPConn))
	}
	return nil
}

// Addr is the bound address (UDP and TCP share the port).
func (s *Server) Addr() string { return s.udp.LocalAddr().String() }

// Close stops serving, closes open TCP connections and waits for every
// goroutine of the server; idempotent. ctx bounds the wait.
func (s *Server) Close(ctx context.Context) error {
	var err error
	s.closeOnce.Do(func() {
		s.mu.Lock()
		s.closed = true
		for c := range s.conns {
			c.Close()
		}
		s.mu.Unlock()
		for _, c := range s.udps {
			c.Close()
		}
		s.tcp.Close()
		s.hosts.cancel()
		done := make(chan struct{})
		go func() {
			s.wg.Wait()
			s.hosts.close()
			close(done)
		}()
		select {
		case <-done:
		case <-ctx.Done():
			err = fmt.Errorf("dnsserver: close: %w", ctx.Err())
		}
	})
	return err
}

// serveUDPSimple reads queries and writes answers one at a time until the
// socket closes (the portable path; Linux batches, see udp_linux.go).
func (s *Server) serveUDPSimple(w *worker, conn *net.UDPConn) {
	in := make([]byte, 65535)
	for {
		n, from, err := conn.ReadFromUDPAddrPort(in)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			s.cfg.Logger.Debug().Err(err).Msg("dns udp read")
			continue
		}
		resp := s.safeRespond(w, in[:n], true, from.Addr())
		if resp == nil {
			continue
		}
		if _, err := conn.WriteToUDPAddrPort(resp, from); err != nil && !errors.Is(err, net.ErrClosed) {
			s.cfg.Logger.Debug().Err(err).Msg("dns udp write")
		}
	}
}

// safeRespond is respond, turning a panic (a bug) into no answer and a log
// line instead of a crashed agent.
func (s *Server) safeRespond(w *worker, pkt []byte, udp bool, from netip.Addr) (out []byte) {
	defer func() {
		if r := recover(); r != nil {
			s.cfg.Logger.Error().Interface("panic", r).Msg("dns: answering a query panicked; dropped")
			out = nil
		}
	}()
	return s.respond(w, pkt, udp, from)
}

func (s *Server) acceptTCP(st *stats) {
	defer s.wg.Done()
	for {
		c, err := s.tcp.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			s.cfg.Logger.Debug().Err(err).Msg("dns tcp accept")
			time.Sleep(10 * time.Millisecond) // e.g. out of file descriptors: do not spin
			continue
		}
		select {
		case s.tcpSlots <- struct{}{}:
		default:
			s.tcpRejected.Add(1)
			c.Close()
			continue
		}
		var from netip.Addr
		if ap, err := netip.ParseAddrPort(c.RemoteAddr().String()); err == nil {
			from = ap.Addr().Unmap()
		}
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			c.Close()
			<-s.tcpSlots
			return
		}
		key := s.cfg.clientKey(from)
		if s.perClient[key] >= maxTCPPerIP {
			s.mu.Unlock()
			s.tcpRejected.Add(1)
			c.Close()
			<-s.tcpSlots
			continue
		}
		s.perClient[key]++
		s.conns[c] = struct{}{}
		s.wg.Add(1)
		s.mu.Unlock()
		go s.serveTCP(c, from, key, st)
	}
}

// serveTCP answers length-prefixed queries on one connection, in order,
// until the client closes it, stays idle too long or sends garbage.
func (s *Server) serveTCP(c net.Conn, from netip.Addr, key netip.Prefix, st *stats) {
	defer s.wg.Done()
	defer func() {
		c.Close()
		s.mu.Lock()
		delete(s.conns, c)
		if s.perClient[key]--; s.perClient[key] <= 0 {
			delete(s.perClient, key)
		}
		s.mu.Unlock()
		<-s.tcpSlots
	}()
	// Buffers start small and grow to the messages seen: an idle
	// connection holds a few KiB, not 200.
	w := newWorker(st, 4096)
	in := make([]byte, 512)
	var out []byte
	for {
		c.SetReadDeadline(time.Now().Add(tcpIdleTimeout))
		if _, err := io.ReadFull(c, in[:2]); err != nil {
			return
		}
		n := int(binary.BigEndian.Uint16(in))
		if n > len(in) {
			in = make([]byte, n)
		}
		c.SetReadDeadline(time.Now().Add(tcpIOTimeout))
		if _, err := io.ReadFull(c, in[:n]); err != nil {
			return
		}
		resp := s.safeRespond(w, in[:n], false, from)
		if resp == nil {
			return // not a query: a confused or hostile peer
		}
		out = binary.BigEndian.AppendUint16(out[:0], uint16(len(resp)))
		out = append(out, resp...)
		c.SetWriteDeadline(time.Now().Add(tcpIOTimeout))
		if _, err := c.Write(out); err != nil {
			return
		}
	}
}
