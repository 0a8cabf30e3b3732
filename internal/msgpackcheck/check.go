// Package msgpackcheck validates untrusted msgpack before it reaches the decoder.
//
// vmihailenco/msgpack v5.4.1 allocates a container's declared length before it
// reads the elements (a 5-byte array32 header costs ~763 MiB) and recurses without
// a depth limit (deep nesting overflows the stack, which recover cannot catch).
// Check walks the bytes once, iteratively and without allocating per element, and
// rejects any container that declares more elements than there are bytes left,
// any nesting deeper than a bound, and anything but exactly one object. After it
// passes, decoding allocates at most a small multiple of the input size.
//
// The package is pure and safe for concurrent use.
package msgpackcheck

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/vmihailenco/msgpack/v5"
)

// ErrInvalid wraps every reason a buffer is rejected.
var ErrInvalid = errors.New("msgpack: invalid input")

// DefaultMaxDepth bounds nesting for Grapevine's messages, which nest a handful
// of levels at most.
const DefaultMaxDepth = 16

// Check returns nil if b holds exactly one well-formed msgpack object whose
// containers are consistent with the input length and nest at most maxDepth deep.
func Check(b []byte, maxDepth int) error {
	// pending[i] is how many objects remain to read at depth i.
	var stack [64]uint64
	if maxDepth <= 0 || maxDepth >= len(stack) {
		maxDepth = len(stack) - 1
	}
	depth := 0
	stack[0] = 1
	p := 0
	for {
		for depth > 0 && stack[depth] == 0 {
			depth--
		}
		if stack[depth] == 0 {
			break
		}
		stack[depth]--
		if p >= len(b) {
			return fmt.Errorf("%w: truncated at byte %d", ErrInvalid, p)
		}
		c := b[p]
		p++
		var skip, n uint64 // bytes to skip; objects the container holds
		container := false
		need := func(k int) (uint64, error) {
			if len(b)-p < k {
				return 0, fmt.Errorf("%w: truncated length at byte %d", ErrInvalid, p)
			}
			var v uint64
			switch k {
			case 1:
				v = uint64(b[p])
			case 2:
				v = uint64(binary.BigEndian.Uint16(b[p:]))
			case 4:
				v = uint64(binary.BigEndian.Uint32(b[p:]))
			}
			p += k
			return v, nil
		}
		var err error
		switch {
		case c <= 0x7f || c >= 0xe0 || c == 0xc0 || c == 0xc2 || c == 0xc3:
		case c >= 0x80 && c <= 0x8f:
			n, container = 2*uint64(c&0x0f), true
		case c >= 0x90 && c <= 0x9f:
			n, container = uint64(c&0x0f), true
		case c >= 0xa0 && c <= 0xbf:
			skip = uint64(c & 0x1f)
		case c == 0xc4 || c == 0xd9:
			skip, err = need(1)
		case c == 0xc5 || c == 0xda:
			skip, err = need(2)
		case c == 0xc6 || c == 0xdb:
			skip, err = need(4)
		case c == 0xc7:
			skip, err = need(1)
			skip++
		case c == 0xc8:
			skip, err = need(2)
			skip++
		case c == 0xc9:
			skip, err = need(4)
			skip++
		case c == 0xca || c == 0xce || c == 0xd2:
			skip = 4
		case c == 0xcb || c == 0xcf || c == 0xd3:
			skip = 8
		case c == 0xcc || c == 0xd0:
			skip = 1
		case c == 0xcd || c == 0xd1:
			skip = 2
		case c >= 0xd4 && c <= 0xd8:
			skip = 1 + (1 << (c - 0xd4))
		case c == 0xdc:
			n, err = need(2)
			container = true
		case c == 0xdd:
			n, err = need(4)
			container = true
		case c == 0xde:
			n, err = need(2)
			n, container = 2*n, true
		case c == 0xdf:
			n, err = need(4)
			n, container = 2*n, true
		default: // 0xc1 is never used
			return fmt.Errorf("%w: byte 0x%02x at %d", ErrInvalid, c, p-1)
		}
		if err != nil {
			return err
		}
		if skip > uint64(len(b)-p) {
			return fmt.Errorf("%w: %d bytes declared at %d, %d left", ErrInvalid, skip, p, len(b)-p)
		}
		p += int(skip)
		if container && n > 0 {
			if n > uint64(len(b)-p) {
				return fmt.Errorf("%w: %d elements declared at %d, %d bytes left", ErrInvalid, n, p, len(b)-p)
			}
			if depth+1 > maxDepth {
				return fmt.Errorf("%w: nested deeper than %d", ErrInvalid, maxDepth)
			}
			depth++
			stack[depth] = n
		}
	}
	if p != len(b) {
		return fmt.Errorf("%w: %d trailing bytes", ErrInvalid, len(b)-p)
	}
	return nil
}

// Unmarshal checks b with DefaultMaxDepth, then decodes it into v.
func Unmarshal(b []byte, v any) error {
	if err := Check(b, DefaultMaxDepth); err != nil {
		return err
	}
	if err := msgpack.Unmarshal(b, v); err != nil {
		return fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	return nil
}
