package dnsserver

import "encoding/binary"

// DNS constants used on the wire (RFC 1035, 6891).
const (
	headerLen = 12
	maxName   = 255 // bytes of a name in wire form

	typeA     = 1
	typeNS    = 2
	typeCNAME = 5
	typeSOA   = 6
	typePTR   = 12
	typeMX    = 15
	typeTXT   = 16
	typeAAAA  = 28
	typeSRV   = 33
	typeOPT   = 41
	typeHTTPS = 65
	typeIXFR  = 251
	typeAXFR  = 252
	typeANY   = 255

	classIN = 1

	rcodeSuccess  = 0
	rcodeFormErr  = 1
	rcodeServFail = 2
	rcodeNXDomain = 3
	rcodeNotImp   = 4
	rcodeRefused  = 5
	rcodeBadVers  = 16 // extended: 1 in the OPT's high bits, 0 in the header

	flagQR = 0x8000
	flagAA = 0x0400
	flagTC = 0x0200
	flagRD = 0x0100
	flagCD = 0x0010

	optLen = 11 // an OPT record without options
)

// verdict is what to do with a packet before any lookup.
type verdict uint8

const (
	verdictAnswer  verdict = iota // a well-formed query: look it up
	verdictDrop                   // not a query (too short, or a response): no answer
	verdictFormErr                // malformed: FORMERR
	verdictNotImp                 // an opcode other than QUERY: NOTIMP
	verdictBadVers                // EDNS version above 0: BADVERS
)

// query is a parsed query: offsets into the packet and a lowercase copy of
// the name. It is filled in place, without allocating.
type query struct {
	id          uint16
	flags       uint16
	qtype       uint16
	qclass      uint16
	questionEnd int // offset just after the question
	lower       [maxName]byte
	nameLen     int        // bytes of the name in wire form, with the final 0
	labels      [128]uint8 // offset of each label in lower
	nlabels     int
	edns        bool
	udpSize     uint16
	do          bool
}

// parse reads a DNS message as a query (RFC 1035 §4.1, RFC 6891 §6). It
// never reads outside pkt and never allocates.
func (q *query) parse(pkt []byte) verdict {
	if len(pkt) < headerLen {
		return verdictDrop
	}
	q.id = binary.BigEndian.Uint16(pkt)
	q.flags = binary.BigEndian.Uint16(pkt[2:])
	q.edns, q.do, q.udpSize, q.nameLen, q.nlabels, q.questionEnd = false, false, 0, 0, 0, 0
	if q.flags&flagQR != 0 {
		return verdictDrop
	}
	if (q.flags>>11)&0xF != 0 {
		return verdictNotImp
	}
	qd := binary.BigEndian.Uint16(pkt[4:])
	an := binary.BigEndian.Uint16(pkt[6:])
	ns := binary.BigEndian.Uint16(pkt[8:])
	ar := binary.BigEndian.Uint16(pkt[10:])
	if qd != 1 || an != 0 || ns != 0 {
		return verdictFormErr
	}
	off := headerLen
	for {
		if off >= len(pkt) {
			return verdictFormErr
		}
		l := int(pkt[off])
		if l&0xC0 != 0 { // a pointer or an extended label type: never in a question
			return verdictFormErr
		}
		if l == 0 {
			q.lower[q.nameLen] = 0
			q.nameLen++
			off++
			break
		}
		if off+1+l > len(pkt) || q.nameLen+1+l+1 > maxName || q.nlabels == len(q.labels) {
			return verdictFormErr
		}
		q.labels[q.nlabels] = uint8(q.nameLen)
		q.nlabels++
		q.lower[q.nameLen] = byte(l)
		for i, c := range pkt[off+1 : off+1+l] {
			if c >= 'A' && c <= 'Z' {
				c += 'a' - 'A'
			}
			q.lower[q.nameLen+1+i] = c
		}
		q.nameLen += 1 + l
		off += 1 + l
	}
	if off+4 > len(pkt) {
		return verdictFormErr
	}
	q.qtype = binary.BigEndian.Uint16(pkt[off:])
	q.qclass = binary.BigEndian.Uint16(pkt[off+2:])
	off += 4
	q.questionEnd = off
	version := uint8(0)
	for range ar {
		// owner name: labels to a 0 or a pointer
		start := off
		for {
			if off >= len(pkt) {
				return verdictFormErr
			}
			l := int(pkt[off])
			if l == 0 {
				off++
				break
			}
			if l&0xC0 == 0xC0 {
				off += 2
				break
			}
			if l&0xC0 != 0 {
				return verdictFormErr
			}
			off += 1 + l
		}
		if off+10 > len(pkt) {
			return verdictFormErr
		}
		typ := binary.BigEndian.Uint16(pkt[off:])
		class := binary.BigEndian.Uint16(pkt[off+2:])
		ttl := binary.BigEndian.Uint32(pkt[off+4:])
		rdlen := int(binary.BigEndian.Uint16(pkt[off+8:]))
		if off+10+rdlen > len(pkt) {
			return verdictFormErr
		}
		if typ == typeOPT {
			// one OPT, owned by the root (RFC 6891 §6.1.1)
			if q.edns || off != start+1 || pkt[start] != 0 {
				return verdictFormErr
			}
			q.edns = true
			q.udpSize = class
			version = uint8(ttl >> 16)
			q.do = ttl&0x8000 != 0
		}
		off += 10 + rdlen
	}
	if q.edns && version > 0 {
		return verdictBadVers
	}
	return verdictAnswer
}

// name returns the lowercase name in wire form.
func (q *query) name() []byte { return q.lower[:q.nameLen] }
