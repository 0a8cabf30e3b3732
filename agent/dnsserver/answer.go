package dnsserver

import (
	"encoding/binary"
	"math/rand/v2"
	"net/netip"
	"time"
)

// worker holds one serving goroutine's scratch space, so answering a query
// allocates nothing once the answer is cached.
type worker struct {
	q       query
	out     []byte
	key     []byte
	perm    []int32
	tstamp  []uint32 // per target: stamp of the response that wrote it
	tpos    []int    // per target: offset of its name in that response
	emitted []int32  // targets in the order the answers wrote them
	stamp   uint32
	rng     *rand.PCG
	st      *stats
}

// newWorker returns a worker whose answer buffer starts at outCap bytes.
func newWorker(st *stats, outCap int) *worker {
	return &worker{
		out: make([]byte, 0, outCap),
		key: make([]byte, 0, maxName+2),
		rng: rand.NewPCG(rand.Uint64(), rand.Uint64()),
		st:  st,
	}
}

// intn returns a pseudo-random number in [0, n).
func (w *worker) intn(n int) int {
	return int((uint64(uint32(w.rng.Uint64())) * uint64(n)) >> 32)
}

// respond answers one packet; nil means no answer (not a query, or rate
// limited). udp selects the size limits; client is the sender (for rate
// limiting). The returned slice is w's scratch: valid until the next call.
func (s *Server) respond(w *worker, pkt []byte, udp bool, client netip.Addr) []byte {
	q := &w.q
	v := q.parse(pkt)
	tr := transportTCP
	if udp {
		tr = transportUDP
	}
	switch v {
	case verdictDrop:
		w.st.malformed.Add(1)
		return nil
	case verdictFormErr, verdictNotImp:
		rc := uint8(rcodeFormErr)
		if v == verdictNotImp {
			rc = rcodeNotImp
		}
		w.st.count(tr, 0, rc)
		return s.headerOnly(w, pkt, rc)
	}
	if udp && s.rrl != nil {
		switch s.rrl.allow(client, s.now()) {
		case rrlDrop:
			w.st.rateLimited[0].Add(1)
			return nil
		case rrlSlip:
			w.st.rateLimited[1].Add(1)
			return s.fixed(w, pkt, rcodeSuccess, flagTC)
		}
	}
	switch {
	case v == verdictBadVers:
		w.st.count(tr, q.qtype, rcodeBadVers)
		return s.fixed(w, pkt, rcodeBadVers, 0)
	case q.qclass != classIN:
		w.st.count(tr, q.qtype, rcodeRefused)
		return s.fixed(w, pkt, rcodeRefused, 0)
	case q.qtype == typeOPT:
		w.st.count(tr, q.qtype, rcodeFormErr)
		return s.fixed(w, pkt, rcodeFormErr, 0)
	case q.qtype == typeAXFR || q.qtype == typeIXFR:
		w.st.count(tr, q.qtype, rcodeRefused) // no zone transfers
		return s.fixed(w, pkt, rcodeRefused, 0)
	case q.qtype >= 128 && q.qtype < typeANY || q.qtype == 0:
		w.st.count(tr, q.qtype, rcodeNotImp) // other meta types (TSIG, MAILA, …)
		return s.fixed(w, pkt, rcodeNotImp, 0)
	}
	e := s.lookupEntry(w)
	if e == nil {
		w.st.count(tr, q.qtype, rcodeRefused)
		return s.fixed(w, pkt, rcodeRefused, 0)
	}
	limit, maxAnswers := 65535, len(e.answers)
	if udp {
		limit = 512
		if q.edns {
			limit = min(max(int(q.udpSize), 512), s.cfg.MaxUDPSize)
		} else if s.cfg.UDPAnswerLimit > 0 {
			maxAnswers = min(maxAnswers, s.cfg.UDPAnswerLimit)
		}
	}
	out, tc := s.assemble(w, pkt, e, limit, maxAnswers, udp)
	if tc {
		w.st.truncated.Add(1)
	}
	w.st.count(tr, q.qtype, e.rcode)
	return out
}

// lookupEntry returns the cached answer to w.q, building it if absent or
// stale; nil when the name is outside the served domains.
func (s *Server) lookupEntry(w *worker) *entry {
	q := &w.q
	w.key = append(append(w.key[:0], q.name()...), byte(q.qtype>>8), byte(q.qtype))
	if e := s.cache.get(w.key); e != nil && s.valid(e) {
		return e
	}
	di, k := matchDomain(s.domains, q)
	if di < 0 {
		return nil
	}
	e := s.build(q, di, k)
	w.st.builds.Add(1)
	s.cache.put(w.key, e)
	return e
}

// valid reports whether e still answers what the Source holds.
func (s *Server) valid(e *entry) bool {
	for i := range e.deps {
		if s.src.ServiceIndex(e.deps[i].service) != e.deps[i].index {
			return false
		}
	}
	if e.useVersion && s.src.Version() != e.version {
		return false
	}
	if e.useHosts && s.hosts.generation() != e.hostGen {
		return false
	}
	return e.expires == 0 || s.now().UnixNano() < e.expires
}

// header writes a response header for w.q into w.out.
func (s *Server) header(w *worker, pkt []byte, flags uint16, rcode uint8) []byte {
	out := w.out[:headerLen]
	copy(out, pkt[:2]) // ID
	f := flagQR | flags | w.q.flags&(flagRD|flagCD) | uint16(rcode&0xF)
	binary.BigEndian.PutUint16(out[2:], f)
	clear(out[4:headerLen])
	return out
}

// headerOnly answers a packet that could not be read as a query: its ID and
// opcode, no sections.
func (s *Server) headerOnly(w *worker, pkt []byte, rcode uint8) []byte {
	out := w.out[:headerLen]
	copy(out, pkt[:2])
	f := flagQR | binary.BigEndian.Uint16(pkt[2:])&(0x7800|flagRD) | uint16(rcode)
	binary.BigEndian.PutUint16(out[2:], f)
	clear(out[4:headerLen])
	return out
}

// fixed answers with the question, no records, and an OPT if the query had
// one: REFUSED, BADVERS, FORMERR, or an empty truncated answer.
func (s *Server) fixed(w *worker, pkt []byte, rcode uint8, flags uint16) []byte {
	q := &w.q
	if rcode != rcodeRefused && rcode != rcodeFormErr {
		flags |= flagAA
	}
	out := s.header(w, pkt, flags, rcode)
	out = append(out, pkt[headerLen:q.questionEnd]...)
	binary.BigEndian.PutUint16(out[4:], 1)
	if q.edns {
		out = s.appendOPT(out, rcode, q.do)
		binary.BigEndian.PutUint16(out[10:], 1)
	}
	w.out = out
	return out
}

// appendOPT appends the response's OPT record (RFC 6891 §6.1.2): our UDP
// size, the extended rcode bits, version 0, the query's DO bit (RFC 3225).
func (s *Server) appendOPT(out []byte, rcode uint8, do bool) []byte {
	out = append(out, 0, 0, typeOPT) // owner: the root
	out = binary.BigEndian.AppendUint16(out, uint16(s.cfg.MaxUDPSize))
	out = append(out, rcode>>4, 0)
	var f uint16
	if do {
		f = 0x8000
	}
	out = binary.BigEndian.AppendUint16(out, f)
	return append(out, 0, 0) // no options
}

// assemble writes e as the answer to the query in pkt within limit bytes and
// maxAnswers answer records: answers shuffled within the own-zone group and
// the rest, SRV targets' addresses as additional data while they fit. When
// the answers do not all fit it sets TC and reports it; over UDP it then
// answers none.
func (s *Server) assemble(w *worker, pkt []byte, e *entry, limit, maxAnswers int, udp bool) ([]byte, bool) {
	q := &w.q
	out := s.header(w, pkt, flagAA, e.rcode)
	out = append(out, pkt[headerLen:q.questionEnd]...)
	reserve := 0
	if q.edns {
		reserve = optLen
	}
	n := len(e.answers)
	if cap(w.perm) < n {
		w.perm = make([]int32, n)
	}
	perm := w.perm[:n]
	for i := range perm {
		perm[i] = int32(i)
	}
	if e.shuffle {
		w.shuffle(perm[:e.own])
		w.shuffle(perm[e.own:])
	}
	if len(e.targets) > len(w.tstamp) {
		w.tstamp = make([]uint32, len(e.targets))
		w.tpos = make([]int, len(e.targets))
	}
	w.stamp++
	if w.stamp == 0 { // wrapped: forget every earlier stamp
		clear(w.tstamp)
		w.stamp = 1
	}
	w.emitted = w.emitted[:0]
	tc := false
	an := 0
	for _, i := range perm[:min(n, maxAnswers)] {
		r := &e.answers[i]
		if len(out)+len(r.data)+reserve > limit {
			tc = true
			break
		}
		if r.target >= 0 && w.tstamp[r.target] != w.stamp {
			w.tstamp[r.target] = w.stamp
			w.tpos[r.target] = len(out) + len(r.data) - len(e.targets[r.target].name)
			w.emitted = append(w.emitted, r.target)
		}
		out = append(out, r.data...)
		an++
	}
	if tc && udp {
		// A partial answer is of no use to a resolver: it discards it and
		// asks again over TCP (RFC 2181 §9). An empty one keeps the reply no
		// larger than the query, so UDP cannot amplify. Over TCP (65535
		// bytes, thousands of records) what fits is all there is.
		out, an = out[:q.questionEnd], 0
		w.emitted = w.emitted[:0]
	}
	ns := 0
	if e.nsCount > 0 && !tc && len(out)+len(e.authority)+reserve <= limit {
		out = append(out, e.authority...)
		ns = int(e.nsCount)
	}
	ar := 0
	for _, ti := range w.emitted {
		t := &e.targets[ti]
		for _, tail := range t.tails {
			pos := w.tpos[ti]
			need := 2 + len(tail)
			if pos > 0x3FFF {
				need = len(t.name) + len(tail)
			}
			if len(out)+need+reserve > limit {
				break
			}
			if pos > 0x3FFF {
				out = append(out, t.name...)
			} else {
				out = binary.BigEndian.AppendUint16(out, 0xC000|uint16(pos))
			}
			out = append(out, tail...)
			ar++
		}
	}
	if e.extraCount > 0 && !tc && len(out)+len(e.extra)+reserve <= limit {
		out = append(out, e.extra...)
		ar += int(e.extraCount)
	}
	if q.edns {
		out = s.appendOPT(out, e.rcode, q.do)
		ar++
	}
	if tc {
		out[2] |= byte(flagTC >> 8)
	}
	binary.BigEndian.PutUint16(out[4:], 1)
	binary.BigEndian.PutUint16(out[6:], uint16(an))
	binary.BigEndian.PutUint16(out[8:], uint16(ns))
	binary.BigEndian.PutUint16(out[10:], uint16(ar))
	w.out = out
	return out, tc
}

// shuffle permutes p uniformly (Fisher–Yates).
func (w *worker) shuffle(p []int32) {
	for i := len(p) - 1; i > 0; i-- {
		j := w.intn(i + 1)
		p[i], p[j] = p[j], p[i]
	}
}

func (s *Server) now() time.Time { return s.cfg.Now() }
