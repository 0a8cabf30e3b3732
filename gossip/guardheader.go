package gossip

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// Plaintext push/pull headers (insecure gossip only).
//
// memberlist allocates the member states a push/pull header declares (up to
// 2^20, ~112 bytes each) before it reads any of them, so one stalled stream
// can reserve over 100 MiB. With a key, streams are encrypted and outsiders
// never reach that code; without one, the guard reads the plaintext header as
// it passes and ends the stream when it declares more than maxHeaderNodes.

// maxHeaderNodes bounds the members a plaintext push/pull may declare: far
// above any cluster this registry targets, and 1.8 MiB of states at most.
const maxHeaderNodes = 1 << 14

// memberlist's message types (net.go) the inspection needs.
const (
	mlPushPull = 6
	mlHasLabel = 244
)

var errHeaderNodes = errors.New("gossip: push/pull header declares too many members")

// checkPushPullHeader inspects the first bytes of a plaintext stream. done is
// true once nothing more needs to be seen (not a push/pull, a header within
// bounds, or a shape it does not parse, which memberlist then judges); err is
// set when the header declares more than maxHeaderNodes members.
func checkPushPullHeader(b []byte) (done bool, err error) {
	if len(b) == 0 {
		return false, nil
	}
	if b[0] == mlHasLabel {
		if len(b) < 2 {
			return false, nil
		}
		skip := 2 + int(b[1])
		if len(b) < skip {
			return false, nil
		}
		b = b[skip:]
		if len(b) == 0 {
			return false, nil
		}
	}
	if b[0] != mlPushPull {
		return true, nil
	}
	b = b[1:]
	if len(b) == 0 {
		return false, nil
	}
	var n int
	switch c := b[0]; {
	case c&0xf0 == 0x80:
		n, b = int(c&0x0f), b[1:]
	case c == 0xde:
		if len(b) < 3 {
			return false, nil
		}
		n, b = int(binary.BigEndian.Uint16(b[1:3])), b[3:]
	default:
		return true, nil
	}
	for range n {
		key, rest, ok, complete := mpString(b)
		if !complete {
			return false, nil
		}
		if !ok {
			return true, nil
		}
		val, rest, ok, complete := mpInt(rest)
		if !complete {
			return false, nil
		}
		if !ok {
			return true, nil
		}
		if key == "Nodes" && (val < 0 || val > maxHeaderNodes) {
			return true, fmt.Errorf("%w: %d, max %d", errHeaderNodes, val, maxHeaderNodes)
		}
		b = rest
	}
	return true, nil
}

// mpString reads a msgpack fixstr or str8. ok is false for another type;
// complete is false when b ends first.
func mpString(b []byte) (s string, rest []byte, ok, complete bool) {
	if len(b) == 0 {
		return "", nil, false, false
	}
	var l, h int
	switch c := b[0]; {
	case c&0xe0 == 0xa0:
		l, h = int(c&0x1f), 1
	case c == 0xd9:
		if len(b) < 2 {
			return "", nil, false, false
		}
		l, h = int(b[1]), 2
	default:
		return "", nil, false, true
	}
	if len(b) < h+l {
		return "", nil, false, false
	}
	return string(b[h : h+l]), b[h+l:], true, true
}

// mpInt reads a msgpack integer, bool or nil (as 0). ok is false for another
// type; complete is false when b ends first.
func mpInt(b []byte) (v int64, rest []byte, ok, complete bool) {
	if len(b) == 0 {
		return 0, nil, false, false
	}
	c := b[0]
	switch {
	case c <= 0x7f:
		return int64(c), b[1:], true, true
	case c >= 0xe0:
		return int64(int8(c)), b[1:], true, true
	case c == 0xc0 || c == 0xc2 || c == 0xc3:
		return 0, b[1:], true, true
	}
	if c < 0xcc || c > 0xd3 { // not uint 8–64 (0xcc–0xcf) or int 8–64 (0xd0–0xd3)
		return 0, nil, false, true
	}
	size := 1 << (c & 3) // 1, 2, 4 or 8 bytes
	if len(b) < 1+size {
		return 0, nil, false, false
	}
	p := b[1 : 1+size]
	signed := c >= 0xd0
	switch size {
	case 1:
		if signed {
			v = int64(int8(p[0]))
		} else {
			v = int64(p[0])
		}
	case 2:
		if signed {
			v = int64(int16(binary.BigEndian.Uint16(p)))
		} else {
			v = int64(binary.BigEndian.Uint16(p))
		}
	case 4:
		if signed {
			v = int64(int32(binary.BigEndian.Uint32(p)))
		} else {
			v = int64(binary.BigEndian.Uint32(p))
		}
	case 8:
		u := binary.BigEndian.Uint64(p)
		if !signed && u > 1<<62 {
			u = 1 << 62 // far over any bound; keeps the sign
		}
		v = int64(u)
	}
	return v, b[1+size:], true, true
}
