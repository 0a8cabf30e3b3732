package dnsserver

import (
	"encoding/binary"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// entry is the precomputed answer to one (name, type): its records in wire
// form, ready to be copied behind a query's header and question. Answer
// records name their owner with a pointer to the question (offset 12), so
// they fit any query of the same name whatever its case. An entry is
// immutable once built; it stays valid while the service indexes, node
// addresses and host lookups it was built from are unchanged.
type entry struct {
	// Validity.
	deps       []dep  // services the answer read, at their change index
	useVersion bool   // read node addresses: valid while Source.Version() is version
	version    uint64 //
	useHosts   bool   // read resolved host names: valid while the host cache's generation is hostGen
	hostGen    uint64 //
	expires    int64  // unix nanoseconds after which it is rebuilt; 0 = never

	rcode   uint8
	answers []rec // own zone first: answers[:own], then the rest; each part shuffled per query
	own     int
	shuffle bool
	// targets are the SRV targets' additional records: each tail is an
	// address record without its owner, written behind a pointer to the
	// target name where the answer holds it.
	targets []target
	// authority holds the SOA of negative answers.
	authority []byte
	nsCount   uint16
	// extra is fixed additional data (glue of NS answers).
	extra      []byte
	extraCount uint16
}

type dep struct {
	service string
	index   uint64
}

type rec struct {
	data   []byte
	target int32 // index into entry.targets; -1 if none
}

type target struct {
	name  []byte   // wire form, for an uncompressed copy when a pointer cannot reach
	tails [][]byte // type, class, TTL, RDLENGTH, RDATA
}

const ptrQuestion = 0xC000 | headerLen

// appendRR appends a record owned by the question (a pointer to offset 12).
func appendRR(b []byte, typ uint16, ttl uint32, rdata []byte) []byte {
	b = binary.BigEndian.AppendUint16(b, ptrQuestion)
	return appendTail(b, typ, ttl, rdata)
}

// appendTail appends a record's fields after its owner name.
func appendTail(b []byte, typ uint16, ttl uint32, rdata []byte) []byte {
	b = binary.BigEndian.AppendUint16(b, typ)
	b = binary.BigEndian.AppendUint16(b, classIN)
	b = binary.BigEndian.AppendUint32(b, ttl)
	b = binary.BigEndian.AppendUint16(b, uint16(len(rdata)))
	return append(b, rdata...)
}

func addrRData(a netip.Addr) (uint16, []byte) {
	if a.Is4() {
		b := a.As4()
		return typeA, b[:]
	}
	b := a.As16()
	return typeAAAA, b[:]
}

func seconds(d time.Duration) uint32 { return uint32(d / time.Second) }

// builder builds one entry.
type builder struct {
	s   *Server
	q   *query
	dom *domain
	e   *entry
}

// build computes the answer to q's name and type in domain di, whose name
// has k labels before the domain. Called on cache misses; it allocates.
func (s *Server) build(q *query, di, k int) *entry {
	l := parseName(labelStrings(q, k))
	// Versions are read before the data, so a change during the build
	// leaves the entry invalid rather than stale.
	b := &builder{s: s, q: q, dom: &s.domains[di], e: &entry{version: s.src.Version(), hostGen: s.hosts.generation()}}
	switch l.kind {
	case kindApex:
		b.apex()
	case kindEmpty:
	case kindNS:
		b.nsHost()
	case kindNode:
		b.e.useVersion = true
		addr, ok := s.src.NodeAddress(l.node)
		ip, err := netip.ParseAddr(addr)
		if !ok {
			b.e.rcode = rcodeNXDomain
			break
		}
		if err == nil {
			b.addresses([]netip.Addr{ip.Unmap()}, nil, seconds(s.cfg.NodeTTL))
		}
	case kindAddr:
		b.addresses([]netip.Addr{l.addr}, nil, seconds(s.cfg.NodeTTL))
	case kindService:
		b.service(l)
	default:
		b.e.rcode = rcodeNXDomain
	}
	if len(b.e.answers) == 0 && (b.e.rcode == rcodeSuccess || b.e.rcode == rcodeNXDomain) {
		b.e.authority = b.soa(seconds(s.cfg.NegativeTTL))
		b.e.nsCount = 1
	}
	return b.e
}

// domainPtr is a compression pointer to the domain where the question's
// name ends with it: every name of the domain the answer writes (the SOA's
// owner and names, ns.DOMAIN) points there, so the SOA costs 50 bytes
// whatever the domain's length and a negative answer always fits.
func (b *builder) domainPtr() []byte {
	off := headerLen + b.q.nameLen - len(b.dom.wire)
	return binary.BigEndian.AppendUint16(nil, 0xC000|uint16(off))
}

// soa is the domain's SOA record.
func (b *builder) soa(ttl uint32) []byte {
	neg := seconds(b.s.cfg.NegativeTTL)
	ptr := b.domainPtr()
	var rd []byte
	rd = append(append(rd, 2, 'n', 's'), ptr...)
	rd = append(append(rd, 10), "hostmaster"...)
	rd = append(rd, ptr...)
	for _, v := range []uint32{b.s.serial, 3600, 600, 86400, neg} {
		rd = binary.BigEndian.AppendUint32(rd, v)
	}
	return appendTail(ptr, typeSOA, ttl, rd)
}

// apex answers the domain itself: SOA and NS (ns.DOMAIN, with its address
// as glue).
func (b *builder) apex() {
	qt := b.q.qtype
	neg := seconds(b.s.cfg.NegativeTTL)
	if qt == typeSOA || qt == typeANY {
		// The SOA's TTL equals its MINIMUM, so the SOA RRset has one TTL
		// whether it answers or rides a negative answer (RFC 2181 §5.2).
		b.e.answers = append(b.e.answers, rec{data: b.soa(neg), target: -1})
	}
	if qt == typeNS || qt == typeANY {
		nsName := append([]byte{2, 'n', 's'}, b.domainPtr()...)
		b.e.answers = append(b.e.answers, rec{data: appendRR(nil, typeNS, seconds(b.s.cfg.NodeTTL), nsName), target: -1})
		for _, a := range b.nsAddrs() {
			t, rd := addrRData(a)
			b.e.extra = appendTail(append(b.e.extra, nsName...), t, seconds(b.s.cfg.NodeTTL), rd)
			b.e.extraCount++
		}
	}
	b.e.own = len(b.e.answers)
}

// nsAddrs is the server's own address: the listener's IP when it is bound
// to one, else the agent's node address.
func (b *builder) nsAddrs() []netip.Addr {
	if a := b.s.listenIP; a.IsValid() && !a.IsUnspecified() {
		return []netip.Addr{a}
	}
	b.e.useVersion = true
	if addr, ok := b.s.src.NodeAddress(b.s.cfg.Node); ok {
		if ip, err := netip.ParseAddr(addr); err == nil {
			return []netip.Addr{ip.Unmap()}
		}
	}
	return nil
}

func (b *builder) nsHost() { b.addresses(b.nsAddrs(), nil, seconds(b.s.cfg.NodeTTL)) }

// addresses answers A, AAAA or ANY with the distinct addresses of the
// question's family, in the order given; own[i] puts addrs[i] in the
// asker's zone group (own nil: all of them).
func (b *builder) addresses(addrs []netip.Addr, own []bool, ttl uint32) {
	qt := b.q.qtype
	var order []netip.Addr
	mine := make(map[netip.Addr]bool, len(addrs))
	for i, a := range addrs {
		if !(qt == typeANY || qt == typeA && a.Is4() || qt == typeAAAA && a.Is6()) {
			continue
		}
		m, seen := mine[a]
		if !seen {
			order = append(order, a)
		}
		mine[a] = m || own == nil || own[i]
	}
	var rest []rec
	for _, a := range order {
		t, rd := addrRData(a)
		r := rec{data: appendRR(nil, t, ttl, rd), target: -1}
		if mine[a] {
			b.e.answers = append(b.e.answers, r)
		} else {
			rest = append(rest, r)
		}
	}
	b.e.own = len(b.e.answers)
	b.e.answers = append(b.e.answers, rest...)
	b.e.shuffle = true
}

// service answers a service name: addresses, or SRV records with their
// targets' addresses as additional data.
func (b *builder) service(l lookup) {
	s := b.s
	idx, insts := s.src.Service(l.service)
	b.e.deps = append(b.e.deps, dep{l.service, idx})
	if idx == 0 {
		b.e.rcode = rcodeNXDomain
		return
	}
	// One TTL per RRset (RFC 2181 §5.2): the smallest of the instances'
	// (stale_ttl for a stale one, else meta dns_ttl, else service_ttl).
	ttl := uint32(0)
	matched := insts[:0:0]
	for _, in := range insts {
		if l.zone != "" && !strings.EqualFold(in.Zone, l.zone) {
			continue
		}
		if l.tag != "" && !hasTag(in.Tags, l.tag) {
			continue
		}
		t := seconds(s.cfg.ServiceTTL)
		if in.TTL > 0 {
			t = in.TTL
		}
		if in.Stale {
			t = seconds(s.cfg.StaleTTL)
		}
		if len(matched) == 0 || t < ttl {
			ttl = t
		}
		matched = append(matched, in)
	}
	qt := b.q.qtype
	switch {
	case qt == typeSRV || qt == typeANY && l.srvForm:
		b.srv(matched, ttl)
	case qt == typeA || qt == typeAAAA || qt == typeANY:
		var addrs []netip.Addr
		var own []bool
		for _, in := range matched {
			for _, a := range b.instanceAddrs(in) {
				addrs = append(addrs, a)
				own = append(own, b.ownZone(in))
			}
		}
		b.addresses(addrs, own, ttl)
	}
}

func hasTag(tags []string, tag string) bool {
	for _, t := range tags {
		if strings.EqualFold(t, tag) {
			return true
		}
	}
	return false
}

func (b *builder) ownZone(in Instance) bool { return strings.EqualFold(in.Zone, b.s.cfg.Zone) }

// instanceAddrs is what an instance's address resolves to: itself if it is
// an IP; for a host name, the node it names, the answer of a name in a
// served domain (one level, no further host names), or the host cache.
func (b *builder) instanceAddrs(in Instance) []netip.Addr {
	if in.NodeAddress {
		b.e.useVersion = true
	}
	if a, err := netip.ParseAddr(in.Address); err == nil {
		return []netip.Addr{a.Unmap()}
	}
	return b.hostAddrs(in.Address, true)
}

// hostAddrs resolves a host name; external is false when only the
// catalog may be asked.
func (b *builder) hostAddrs(host string, external bool) []netip.Addr {
	s := b.s
	h := strings.ToLower(strings.TrimSuffix(host, "."))
	if h == "" {
		return nil
	}
	b.e.useVersion = true
	if addr, ok := s.src.NodeAddress(h); ok {
		if a, err := netip.ParseAddr(addr); err == nil {
			return []netip.Addr{a.Unmap()}
		}
		return nil
	}
	if l, ok := s.inDomain(h); ok {
		switch l.kind {
		case kindNode:
			if addr, ok := s.src.NodeAddress(l.node); ok {
				if a, err := netip.ParseAddr(addr); err == nil {
					return []netip.Addr{a.Unmap()}
				}
			}
		case kindAddr:
			return []netip.Addr{l.addr}
		case kindNS:
			return b.nsAddrs()
		case kindService:
			idx, insts := s.src.Service(l.service)
			b.e.deps = append(b.e.deps, dep{l.service, idx})
			var out []netip.Addr
			for _, in := range insts {
				if l.tag != "" && !hasTag(in.Tags, l.tag) || l.zone != "" && !strings.EqualFold(in.Zone, l.zone) {
					continue
				}
				if a, err := netip.ParseAddr(in.Address); err == nil {
					out = append(out, a.Unmap())
				}
			}
			return out
		}
		return nil // never asks the resolver about our own names: it may forward them here
	}
	if !external || !validHost(h) {
		return nil
	}
	addrs, expires := s.hosts.lookup(h)
	b.e.useHosts = true
	if b.e.expires == 0 || expires < b.e.expires {
		b.e.expires = expires
	}
	return addrs
}

// inDomain parses a dotted name if it is inside a served domain.
func (s *Server) inDomain(h string) (lookup, bool) {
	name := h + "."
	for i, d := range s.domains {
		if rest, ok := strings.CutSuffix(name, "."+d.name); ok {
			l := parseName(strings.Split(rest, "."))
			l.dom = i
			return l, true
		}
		if name == d.name {
			return lookup{kind: kindApex, dom: i}, true
		}
	}
	return lookup{}, false
}

// srv answers SRV records, one per distinct (port, target). Targets:
// HEX.addr.DOMAIN for an instance registered with an IP, NODE.node.DOMAIN for
// one using its node's address (or naming a node), each with its address as
// additional data; a host name is its own target (addresses added only
// when it is in a served domain).
func (b *builder) srv(insts []Instance, ttl uint32) {
	s := b.s
	dom := b.dom.name
	targets := map[string]int32{}
	seen := map[string]bool{}
	var first, rest []rec
	for _, in := range insts {
		var tname string
		var addrs []netip.Addr
		ip, err := netip.ParseAddr(in.Address)
		node := strings.ToLower(in.Node)
		switch {
		case in.NodeAddress && err == nil && validLabel(node):
			b.e.useVersion = true
			tname, addrs = node+".node."+dom, []netip.Addr{ip.Unmap()}
		case err == nil:
			tname, addrs = addrLabel(ip.Unmap())+".addr."+dom, []netip.Addr{ip.Unmap()}
		default:
			h := strings.ToLower(strings.TrimSuffix(in.Address, "."))
			b.e.useVersion = true
			if addr, ok := s.src.NodeAddress(h); ok && validLabel(h) {
				if a, err := netip.ParseAddr(addr); err == nil {
					tname, addrs = h+".node."+dom, []netip.Addr{a.Unmap()}
					break
				}
			}
			if !validHost(h) {
				continue
			}
			tname = h + "."
			if _, ok := s.inDomain(h); ok {
				addrs = b.hostAddrs(h, false)
			}
		}
		key := tname + "/" + strconv.Itoa(in.Port)
		if seen[key] {
			continue
		}
		seen[key] = true
		ti, ok := targets[tname]
		if !ok {
			ti = int32(len(b.e.targets))
			targets[tname] = ti
			t := target{name: appendName(nil, tname)}
			dedup := map[netip.Addr]bool{}
			for _, a := range addrs {
				if dedup[a] {
					continue
				}
				dedup[a] = true
				typ, rd := addrRData(a)
				t.tails = append(t.tails, appendTail(nil, typ, ttl, rd))
			}
			b.e.targets = append(b.e.targets, t)
		}
		var rd []byte
		rd = binary.BigEndian.AppendUint16(rd, 1) // priority
		rd = binary.BigEndian.AppendUint16(rd, 1) // weight
		rd = binary.BigEndian.AppendUint16(rd, uint16(in.Port))
		rd = append(rd, b.e.targets[ti].name...) // never compressed (RFC 2782)
		r := rec{data: appendRR(nil, typeSRV, ttl, rd), target: ti}
		if b.ownZone(in) {
			first = append(first, r)
		} else {
			rest = append(rest, r)
		}
	}
	b.e.answers = append(append(b.e.answers, first...), rest...)
	b.e.own = len(first)
	b.e.shuffle = true
}
