package agent

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/miekg/dns"
	"github.com/rs/zerolog"
)

// DNS serves lookups under the "grapevine." domain from the local catalog:
//
//	NAME.service.grapevine.          A/AAAA of the service's instances
//	TAG.NAME.service.grapevine.      the same, only instances with TAG
//	_NAME._tcp.service.grapevine.    SRV (port + target) with addresses in Additional
//	_NAME._TAG.service.grapevine.    SRV, only instances with TAG
//	NODE.node.grapevine.             A/AAAA of an agent
//
// Answers follow the HTTP API's default lookup (passing and warning, stale over
// empty), shuffled per query. See docs/dns.md.
const dnsDomain = "grapevine."

// dnsTarget is one instance as DNS needs it.
type dnsTarget struct {
	ID, Node, Address string
	Port              int
}

// dnsSource is what the DNS server reads; the agent implements it over the catalog.
type dnsSource interface {
	// ServiceTargets returns the default lookup of service, filtered by tag if
	// not empty, and whether the service is known at all.
	ServiceTargets(service, tag string) ([]dnsTarget, bool)
	// NodeAddress returns the address of an agent by name.
	NodeAddress(node string) (string, bool)
}

// dnsServer answers DNS on one address, UDP and TCP.
type dnsServer struct {
	src  dnsSource
	log  zerolog.Logger
	ttl  uint32
	udp  *dns.Server
	tcp  *dns.Server
	wg   sync.WaitGroup
	once sync.Once

	mu  sync.Mutex // guards rng
	rng *rand.Rand
}

// startDNS listens on addr (UDP and TCP) and serves until close.
func startDNS(addr string, src dnsSource, log zerolog.Logger) (*dnsServer, error) {
	s := &dnsServer{src: src, log: log, rng: rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 1))}
	pc, err := net.ListenPacket("udp", addr)
	if err != nil {
		return nil, fmt.Errorf("agent: dns listen udp %s: %w", addr, err)
	}
	l, err := net.Listen("tcp", pc.LocalAddr().String())
	if err != nil {
		pc.Close()
		return nil, fmt.Errorf("agent: dns listen tcp %s: %w", addr, err)
	}
	h := dns.HandlerFunc(s.serve)
	s.udp = &dns.Server{PacketConn: pc, Handler: h}
	s.tcp = &dns.Server{Listener: l, Handler: h, ReadTimeout: 5 * time.Second, WriteTimeout: 5 * time.Second}
	for _, srv := range []*dns.Server{s.udp, s.tcp} {
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			if err := srv.ActivateAndServe(); err != nil && !errors.Is(err, net.ErrClosed) {
				s.log.Error().Err(err).Msg("dns server stopped")
			}
		}()
	}
	return s, nil
}

// Addr is the bound UDP address.
func (s *dnsServer) Addr() string { return s.udp.PacketConn.LocalAddr().String() }

// close stops both servers and waits for them; idempotent.
func (s *dnsServer) close(ctx context.Context) {
	s.once.Do(func() {
		_ = s.udp.ShutdownContext(ctx)
		_ = s.tcp.ShutdownContext(ctx)
		s.wg.Wait()
	})
}

func (s *dnsServer) serve(w dns.ResponseWriter, req *dns.Msg) {
	resp := s.answer(req)
	if _, udp := w.RemoteAddr().(*net.UDPAddr); udp {
		size := dns.MinMsgSize
		if o := req.IsEdns0(); o != nil {
			size = max(int(o.UDPSize()), dns.MinMsgSize)
		}
		resp.Truncate(size)
	}
	if err := w.WriteMsg(resp); err != nil {
		s.log.Debug().Err(err).Msg("dns write failed")
	}
}

// answer builds the response to one query. It never panics on any message.
func (s *dnsServer) answer(req *dns.Msg) *dns.Msg {
	resp := new(dns.Msg)
	resp.SetReply(req)
	resp.Authoritative = true
	resp.RecursionAvailable = false
	if req.Opcode != dns.OpcodeQuery || len(req.Question) != 1 {
		resp.SetRcode(req, dns.RcodeNotImplemented)
		return resp
	}
	if o := req.IsEdns0(); o != nil {
		resp.SetEdns0(max(o.UDPSize(), dns.MinMsgSize), false)
	}
	q := req.Question[0]
	name, err := parseDNSName(q.Name)
	if err != nil {
		resp.SetRcode(req, dns.RcodeNameError)
		resp.Ns = []dns.RR{s.soa()}
		return resp
	}
	switch name.kind {
	case "node":
		addr, ok := s.src.NodeAddress(name.node)
		if !ok {
			return s.nxdomain(req, resp)
		}
		resp.Answer = s.addressRR(q.Name, q.Qtype, addr)
	case "service":
		targets, known := s.src.ServiceTargets(name.service, name.tag)
		if !known {
			return s.nxdomain(req, resp)
		}
		s.shuffle(targets)
		if name.srv {
			if q.Qtype != dns.TypeSRV && q.Qtype != dns.TypeANY {
				break
			}
			for _, t := range targets {
				target, extra := s.srvTarget(t)
				resp.Answer = append(resp.Answer, &dns.SRV{
					Hdr:      dns.RR_Header{Name: q.Name, Rrtype: dns.TypeSRV, Class: dns.ClassINET, Ttl: s.ttl},
					Priority: 1, Weight: 1, Port: uint16(t.Port), Target: target,
				})
				resp.Extra = append(resp.Extra, extra...)
			}
			break
		}
		for _, t := range targets {
			resp.Answer = append(resp.Answer, s.addressRR(q.Name, q.Qtype, t.Address)...)
		}
	}
	if len(resp.Answer) == 0 {
		resp.Ns = []dns.RR{s.soa()} // NODATA
	}
	return resp
}

func (s *dnsServer) nxdomain(req, resp *dns.Msg) *dns.Msg {
	resp.SetRcode(req, dns.RcodeNameError)
	resp.Ns = []dns.RR{s.soa()}
	return resp
}

// addressRR returns the A or AAAA record of addr for the question type, if any.
func (s *dnsServer) addressRR(name string, qtype uint16, addr string) []dns.RR {
	ip := net.ParseIP(addr)
	if ip == nil {
		if qtype == dns.TypeA || qtype == dns.TypeAAAA || qtype == dns.TypeANY {
			return []dns.RR{&dns.CNAME{Hdr: dns.RR_Header{Name: name, Rrtype: dns.TypeCNAME, Class: dns.ClassINET, Ttl: s.ttl}, Target: dns.Fqdn(addr)}}
		}
		return nil
	}
	hdr := dns.RR_Header{Name: name, Class: dns.ClassINET, Ttl: s.ttl}
	if v4 := ip.To4(); v4 != nil {
		if qtype != dns.TypeA && qtype != dns.TypeANY {
			return nil
		}
		hdr.Rrtype = dns.TypeA
		return []dns.RR{&dns.A{Hdr: hdr, A: v4}}
	}
	if qtype != dns.TypeAAAA && qtype != dns.TypeANY {
		return nil
	}
	hdr.Rrtype = dns.TypeAAAA
	return []dns.RR{&dns.AAAA{Hdr: hdr, AAAA: ip}}
}

// srvTarget names an instance's address for an SRV record: IPs get a synthetic
// name "<hex>.addr.grapevine." with the address in Additional; host names are
// their own target.
func (s *dnsServer) srvTarget(t dnsTarget) (string, []dns.RR) {
	ip := net.ParseIP(t.Address)
	if ip == nil {
		return dns.Fqdn(t.Address), nil
	}
	raw := ip.To4()
	if raw == nil {
		raw = ip
	}
	name := hex.EncodeToString(raw) + ".addr." + dnsDomain
	return name, s.addressRR(name, dns.TypeANY, t.Address)
}

func (s *dnsServer) soa() dns.RR {
	return &dns.SOA{
		Hdr: dns.RR_Header{Name: dnsDomain, Rrtype: dns.TypeSOA, Class: dns.ClassINET, Ttl: 0},
		Ns:  "ns." + dnsDomain, Mbox: "hostmaster." + dnsDomain,
		Serial: 1, Refresh: 3600, Retry: 600, Expire: 86400, Minttl: 0,
	}
}

func (s *dnsServer) shuffle(t []dnsTarget) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rng.Shuffle(len(t), func(i, j int) { t[i], t[j] = t[j], t[i] })
}

// dnsName is a parsed query name.
type dnsName struct {
	kind         string // "service" or "node"
	service, tag string
	srv          bool
	node         string
}

var errDNSName = errors.New("agent: not a grapevine name")

// parseDNSName parses a query name under grapevine. (case-insensitive).
func parseDNSName(q string) (dnsName, error) {
	q = strings.ToLower(dns.Fqdn(q))
	if !strings.HasSuffix(q, "."+dnsDomain) {
		return dnsName{}, errDNSName
	}
	labels := dns.SplitDomainName(strings.TrimSuffix(q, "."+dnsDomain))
	if len(labels) < 2 || len(labels) > 3 {
		return dnsName{}, errDNSName
	}
	kind := labels[len(labels)-1]
	rest := labels[:len(labels)-1]
	switch {
	case kind == "node" && len(rest) == 1:
		return dnsName{kind: "node", node: rest[0]}, nil
	case kind == "service" && len(rest) == 1:
		return dnsName{kind: "service", service: rest[0]}, nil
	case kind == "service" && len(rest) == 2 && strings.HasPrefix(rest[0], "_") && strings.HasPrefix(rest[1], "_"):
		n := dnsName{kind: "service", service: rest[0][1:], srv: true}
		if t := rest[1][1:]; t != "tcp" && t != "udp" {
			n.tag = t
		}
		if n.service == "" {
			return dnsName{}, errDNSName
		}
		return n, nil
	case kind == "service" && len(rest) == 2:
		return dnsName{kind: "service", service: rest[1], tag: rest[0]}, nil
	}
	return dnsName{}, errDNSName
}
