package dnsserver

import (
	"bytes"
	"encoding/hex"
	"net/netip"
	"strings"
)

// domain is one served domain.
type domain struct {
	name   string // "grapevine."
	wire   []byte // "\x09grapevine\x00"
	labels int
}

func newDomain(name string) domain {
	return domain{name: name, wire: appendName(nil, name), labels: strings.Count(name, ".")}
}

// kind is what a name inside a served domain refers to.
type kind uint8

const (
	kindNXDomain kind = iota // no such name
	kindApex                 // the domain itself: SOA, NS
	kindEmpty                // an empty non-terminal (service., node., ZONE., …): NODATA for every type
	kindNS                   // ns.DOMAIN: the server's own address
	kindService              // [TAG.]NAME.service[.ZONE], _NAME._TAG.service[.ZONE]
	kindNode                 // NODE.node[.ZONE]
	kindAddr                 // HEX.addr[.ZONE]
)

// lookup is a name parsed for answering.
type lookup struct {
	dom     int // index into Server.domains
	kind    kind
	service string
	tag     string // "" = any
	zone    string // "" = any
	srvForm bool   // _NAME._TAG
	node    string
	addr    netip.Addr
}

// matchDomain returns the index of the served domain q's name is in, and the
// number of labels before it; -1 if none. It does not allocate.
func matchDomain(doms []domain, q *query) (int, int) {
	name := q.name()
	for i := range doms {
		d := &doms[i]
		k := q.nlabels - d.labels
		if k < 0 {
			continue
		}
		start := q.nameLen - 1 // the root
		if k < q.nlabels {
			start = int(q.labels[k])
		}
		if bytes.Equal(name[start:], d.wire) {
			return i, k
		}
	}
	return -1, 0
}

// labelStrings returns the first n labels of q's (lowercase) name.
func labelStrings(q *query, n int) []string {
	out := make([]string, n)
	for i := range n {
		o := int(q.labels[i])
		l := int(q.lower[o])
		out[i] = string(q.lower[o+1 : o+1+l])
	}
	return out
}

// parseName reads the labels before a served domain (leftmost first), the
// way Consul reads its names: from the right, a keyword (service, node,
// addr), optionally preceded by a zone label:
//
//	(empty)                          apex
//	ns                               the server's own name
//	ZONE | service | node | addr     empty non-terminals
//	[TAG.]NAME.service[.ZONE]        A/AAAA/SRV of a service
//	_NAME._TAG.service[.ZONE]        RFC 2782 (TAG tcp or udp: no tag filter)
//	NODE.node[.ZONE]                 a node's address
//	HEX.addr[.ZONE]                  the IP written in hex (SRV targets)
//
// A zone label that is itself a keyword is read as the keyword.
func parseName(labels []string) lookup {
	n := len(labels)
	if n == 0 {
		return lookup{kind: kindApex}
	}
	var kw, zone string
	var parts []string
	switch {
	case isKeyword(labels[n-1]):
		kw, parts = labels[n-1], labels[:n-1]
	case n >= 2 && isKeyword(labels[n-2]):
		kw, parts, zone = labels[n-2], labels[:n-2], labels[n-1]
	case n == 1 && labels[0] == "ns":
		return lookup{kind: kindNS}
	case n == 1:
		return lookup{kind: kindEmpty} // a zone label: names exist below it
	default:
		return lookup{kind: kindNXDomain}
	}
	if len(parts) == 0 {
		return lookup{kind: kindEmpty}
	}
	switch kw {
	case "service":
		l := lookup{kind: kindService, zone: zone}
		if len(parts) == 2 && strings.HasPrefix(parts[0], "_") && strings.HasPrefix(parts[1], "_") {
			l.srvForm = true
			l.service = parts[0][1:]
			if t := parts[1][1:]; t != "tcp" && t != "udp" {
				l.tag = t
			}
		} else {
			l.service = parts[len(parts)-1]
			l.tag = strings.Join(parts[:len(parts)-1], ".")
		}
		if !validService(l.service) || (l.srvForm && l.tag == "" && parts[1] != "_tcp" && parts[1] != "_udp") {
			return lookup{kind: kindNXDomain}
		}
		return l
	case "node":
		return lookup{kind: kindNode, node: strings.Join(parts, "."), zone: zone}
	default: // addr
		if len(parts) != 1 || (len(parts[0]) != 8 && len(parts[0]) != 32) {
			return lookup{kind: kindNXDomain}
		}
		b, err := hex.DecodeString(parts[0])
		if err != nil {
			return lookup{kind: kindNXDomain}
		}
		a, _ := netip.AddrFromSlice(b)
		return lookup{kind: kindAddr, addr: a, zone: zone}
	}
}

func isKeyword(s string) bool { return s == "service" || s == "node" || s == "addr" }

// validService reports whether s can be a catalog service name: 1 to 63
// bytes of [a-z0-9-] (the catalog enforces the same).
func validService(s string) bool {
	if s == "" || len(s) > 63 || s[0] == '-' || s[len(s)-1] == '-' {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

// validLabel reports whether s can be written as one DNS label of a host
// name (letters, digits, '-', '_'; 1 to 63 bytes).
func validLabel(s string) bool {
	if s == "" || len(s) > 63 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// validHost reports whether s (with or without the final dot) is a host
// name whose labels are all valid.
func validHost(s string) bool {
	s = strings.TrimSuffix(s, ".")
	if s == "" || len(s) > 253 {
		return false
	}
	for l := range strings.SplitSeq(s, ".") {
		if !validLabel(l) {
			return false
		}
	}
	return true
}

// appendName appends the wire form of a dotted name whose labels are valid
// (validHost, or a domain); the final dot is optional.
func appendName(b []byte, name string) []byte {
	name = strings.TrimSuffix(name, ".")
	if name != "" {
		for l := range strings.SplitSeq(name, ".") {
			b = append(b, byte(len(l)))
			b = append(b, l...)
		}
	}
	return append(b, 0)
}

// addrLabel is the hex label of an IP for HEX.addr.DOMAIN names.
func addrLabel(a netip.Addr) string {
	if a.Is4() {
		b := a.As4()
		return hex.EncodeToString(b[:])
	}
	b := a.As16()
	return hex.EncodeToString(b[:])
}
