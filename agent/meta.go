package agent

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"time"
	"unicode/utf8"

	"github.com/hashicorp/memberlist"
)

// nodeMeta is what an agent tells its peers about itself in memberlist's node
// metadata (at most memberlist.MetaMaxSize = 512 bytes), so every agent knows
// every member's zone, HTTP address, version and convergence fingerprint
// without a round trip.
type nodeMeta struct {
	Zone    string
	HTTP    string
	Version string
	// Fingerprint is nil when the member did not send one (an older agent).
	Fingerprint *fingerprint
}

// fingerprint summarizes a replica of the catalog: agents whose fingerprints
// have equal hashes hold the same live records (docs/http.md, "Convergence").
type fingerprint struct {
	Hash      uint64 // catalog.Stats.Hash
	Origins   uint64 // origins held
	Instances uint64 // records held
	// Changed is when the hash last changed, by the agent's own clock
	// (millisecond precision; informative only: clocks are not compared).
	Changed time.Time
}

// The metadata encoding, version 1: one version byte, then fields, each a tag
// byte, a uvarint length and that many bytes. A decoder skips tags it does not
// know, so later versions append fields without breaking older agents; a
// different version byte is rejected. Agents before version 1 sent JSON
// ({"zone":…,"http":…}), which is still read.
const (
	metaVersion byte = 1

	tagZone        byte = 1 // UTF-8 string
	tagHTTP        byte = 2 // UTF-8 string
	tagVersion     byte = 3 // UTF-8 string
	tagFingerprint byte = 4 // hash (8 bytes, big endian), uvarint origins, uvarint instances, varint changed (Unix ms)

	maxMetaString = 128 // bytes of one string field
)

// errBadMeta wraps every reason decodeMeta rejects metadata.
var errBadMeta = errors.New("agent: bad node metadata")

// encodeMeta encodes m; fields that would not fit 512 bytes are left out (the
// HTTP address, then the version), the fingerprint never.
func encodeMeta(m nodeMeta) []byte {
	for {
		b := appendMeta(m)
		if len(b) <= memberlist.MetaMaxSize {
			return b
		}
		switch {
		case m.HTTP != "":
			m.HTTP = ""
		case m.Version != "":
			m.Version = ""
		default:
			m.Zone = "" // unreachable: the zone is at most 64 bytes
		}
	}
}

func appendMeta(m nodeMeta) []byte {
	b := make([]byte, 0, 64)
	b = append(b, metaVersion)
	str := func(tag byte, s string) {
		if s == "" {
			return
		}
		if len(s) > maxMetaString {
			s = s[:maxMetaString]
			for !utf8.ValidString(s) {
				s = s[:len(s)-1]
			}
		}
		b = append(b, tag)
		b = binary.AppendUvarint(b, uint64(len(s)))
		b = append(b, s...)
	}
	str(tagZone, m.Zone)
	str(tagHTTP, m.HTTP)
	str(tagVersion, m.Version)
	if f := m.Fingerprint; f != nil {
		v := binary.BigEndian.AppendUint64(nil, f.Hash)
		v = binary.AppendUvarint(v, f.Origins)
		v = binary.AppendUvarint(v, f.Instances)
		var ms int64
		if !f.Changed.IsZero() {
			ms = f.Changed.UnixMilli()
		}
		v = binary.AppendVarint(v, ms)
		b = append(b, tagFingerprint)
		b = binary.AppendUvarint(b, uint64(len(v)))
		b = append(b, v...)
	}
	return b
}

// decodeMeta reads a peer's metadata. Empty metadata is the zero value; bad
// metadata is an error wrapping errBadMeta (the member is still listed, with
// what could not be read left out).
func decodeMeta(b []byte) (nodeMeta, error) {
	var m nodeMeta
	switch {
	case len(b) == 0:
		return m, nil
	case len(b) > memberlist.MetaMaxSize:
		return m, fmt.Errorf("%w: %d bytes", errBadMeta, len(b))
	case b[0] == '{':
		var legacy struct {
			Zone string `json:"zone"`
			HTTP string `json:"http"`
		}
		if err := json.Unmarshal(b, &legacy); err != nil {
			return m, fmt.Errorf("%w: %v", errBadMeta, err)
		}
		m.Zone, m.HTTP = legacy.Zone, legacy.HTTP
		return m, m.check()
	case b[0] != metaVersion:
		return m, fmt.Errorf("%w: version %d", errBadMeta, b[0])
	}
	seen := map[byte]bool{}
	for rest := b[1:]; len(rest) > 0; {
		tag := rest[0]
		n, k := binary.Uvarint(rest[1:])
		if k <= 0 || n > uint64(len(rest)-1-k) {
			return nodeMeta{}, fmt.Errorf("%w: field %d: bad length", errBadMeta, tag)
		}
		v := rest[1+k : 1+k+int(n)]
		rest = rest[1+k+int(n):]
		if seen[tag] {
			return nodeMeta{}, fmt.Errorf("%w: field %d twice", errBadMeta, tag)
		}
		seen[tag] = true
		switch tag {
		case tagZone:
			m.Zone = string(v)
		case tagHTTP:
			m.HTTP = string(v)
		case tagVersion:
			m.Version = string(v)
		case tagFingerprint:
			f, err := decodeFingerprint(v)
			if err != nil {
				return nodeMeta{}, err
			}
			m.Fingerprint = &f
		}
	}
	if err := m.check(); err != nil {
		return nodeMeta{}, err
	}
	return m, nil
}

// check rejects strings that are too long or not UTF-8.
func (m nodeMeta) check() error {
	for _, s := range []string{m.Zone, m.HTTP, m.Version} {
		if len(s) > maxMetaString || !utf8.ValidString(s) {
			return fmt.Errorf("%w: bad string field", errBadMeta)
		}
	}
	return nil
}

func decodeFingerprint(v []byte) (fingerprint, error) {
	var f fingerprint
	bad := fmt.Errorf("%w: bad fingerprint", errBadMeta)
	if len(v) < 8 {
		return f, bad
	}
	f.Hash = binary.BigEndian.Uint64(v)
	v = v[8:]
	var k int
	if f.Origins, k = binary.Uvarint(v); k <= 0 {
		return f, bad
	}
	v = v[k:]
	if f.Instances, k = binary.Uvarint(v); k <= 0 {
		return f, bad
	}
	v = v[k:]
	ms, k := binary.Varint(v)
	if k <= 0 {
		return f, bad
	}
	// Later versions may append to the fingerprint: the rest is ignored.
	if ms != 0 {
		f.Changed = time.UnixMilli(ms).UTC()
	}
	return f, nil
}
