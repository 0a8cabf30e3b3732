package gossip

import (
	"errors"
	"fmt"

	"github.com/grapevine-sd/grapevine/crdt"
	"github.com/grapevine-sd/grapevine/internal/msgpackcheck"
	"github.com/vmihailenco/msgpack/v5"
)

// Errors returned by the message decoders. Every decode error wraps ErrBadMessage.
var (
	// ErrBadMessage wraps every reason a received message is rejected.
	ErrBadMessage = errors.New("gossip: bad message")
	// ErrUnknownType: the first byte is not a message type this version knows.
	ErrUnknownType = errors.New("gossip: unknown message type")
	// ErrTooLarge: a message over a size bound (MaxFrame, batch or digest size).
	ErrTooLarge = errors.New("gossip: message too large")
	// ErrVersion: the protocol version byte is not one this version speaks.
	ErrVersion = errors.New("gossip: unsupported protocol version")
)

// msgType is the first byte of every message. Types are only ever appended; a
// number is never reused (docs/protocol.md).
type msgType uint8

const (
	msgPush   msgType = 1 // one delta, eager push or piggyback; forwarded when new
	msgSync   msgType = 2 // a batch of deltas answering a digest or a repair; not forwarded
	msgDigest msgType = 3 // the sender's digest; push/pull state and periodic sync
	msgRepair msgType = 4 // asks for an origin's changes after a version (gap repair)
	msgLeave  msgType = 5 // the sender is leaving gracefully (sent before memberlist's leave)
	// msgForceLeave: an operator forced a failed member out (forceleave.go).
	msgForceLeave msgType = 6
	// msgDepartures: origins the sender holds as failed or left (departures.go).
	msgDepartures msgType = 7
	// msgKeyring: an operator's keyring change, applied and answered by every
	// member (keyring.go).
	msgKeyring msgType = 8
	// msgKeyringAck answers a msgKeyring: the request id, an error or the keys.
	msgKeyringAck msgType = 9
	// msgRelay: a local change on a relay tree; the receiver passes it on to
	// the members of its part of the tree (relay.go).
	msgRelay msgType = 10
	// msgSum: the sum of the sender's digest (crdt.Digest.Sum); a receiver
	// whose own sum differs answers with its digest (sum.go).
	msgSum msgType = 11
	// msgPartDigest: the rows of the sender's digest in the buckets where
	// two sums differed (sum.go).
	msgPartDigest msgType = 12
	msgLimit      msgType = 13 // one past the last type
)

var msgNames = [msgLimit]string{"unknown", "push", "sync", "digest", "repair", "leave", "force-leave", "departures", "keyring", "keyring-ack", "relay", "sum", "part-digest"}

func (t msgType) String() string {
	if t < msgLimit {
		return msgNames[t]
	}
	return fmt.Sprintf("type(%d)", uint8(t))
}

// ProtocolVersion is the second byte of every message this package sends. A
// receiver rejects versions it does not speak.
const ProtocolVersion = 1

const (
	headerLen = 2 // type, version
	// MaxFrame caps any message before msgpack sees it (bytes). A delta's
	// entries are each at most ~65 KiB (crdt.MaxValueLen) and sync batches are
	// cut at Config.ChunkBytes, so honest messages stay far below it.
	MaxFrame = 4 << 20
	// maxDigestOrigins bounds the origins of one digest.
	maxDigestOrigins = 1 << 16
	maxNameLen       = 256
	maxBatch         = 4096 // deltas in one sync message
)

// wireEntry is crdt.Entry as an array [key, seq, value, deleted]: at most 19
// bytes of overhead, under crdt's per-entry estimate of 24.
type wireEntry struct {
	//lint:ignore U1000 msgpack reads its options from this field by reflection
	_msgpack struct{} `msgpack:",as_array"`
	Key      string
	Seq      uint64
	Value    []byte
	Deleted  bool
}

// wireDelta is crdt.Delta as an array [origin, epoch, from, to, floor, entries]:
// at most 45 bytes of overhead, under crdt's per-delta estimate of 48.
type wireDelta struct {
	//lint:ignore U1000 msgpack reads its options from this field by reflection
	_msgpack struct{} `msgpack:",as_array"`
	Origin   string
	Epoch    uint64
	From     uint64
	To       uint64
	Floor    uint64
	Entries  []wireEntry
}

// pushBody is a msgPush: [from, delta].
type pushBody struct {
	//lint:ignore U1000 msgpack reads its options from this field by reflection
	_msgpack struct{} `msgpack:",as_array"`
	From     string
	Delta    wireDelta
}

// syncBody is a msgSync: [from, deltas].
type syncBody struct {
	//lint:ignore U1000 msgpack reads its options from this field by reflection
	_msgpack struct{} `msgpack:",as_array"`
	From     string
	Deltas   []wireDelta
}

// wirePosition is one digest row: [origin, epoch, applied].
type wirePosition struct {
	//lint:ignore U1000 msgpack reads its options from this field by reflection
	_msgpack struct{} `msgpack:",as_array"`
	Origin   string
	Epoch    uint64
	Applied  uint64
}

// digestBody is a msgDigest: [from, reply, rows]. Reply asks the receiver to
// answer with its own digest (reply false) so both sides repair each other.
type digestBody struct {
	//lint:ignore U1000 msgpack reads its options from this field by reflection
	_msgpack struct{} `msgpack:",as_array"`
	From     string
	Reply    bool
	Rows     []wirePosition
}

// repairBody is a msgRepair: [from, origin, epoch, applied].
type repairBody struct {
	//lint:ignore U1000 msgpack reads its options from this field by reflection
	_msgpack struct{} `msgpack:",as_array"`
	From     string
	Origin   string
	Epoch    uint64
	Applied  uint64
}

// pushMsg is a decoded msgPush.
type pushMsg struct {
	From  string // node that sent (or queued) it
	Delta crdt.Delta
}

// syncMsg is a decoded msgSync.
type syncMsg struct {
	From   string
	Deltas []crdt.Delta
}

// digestMsg is a decoded msgDigest.
type digestMsg struct {
	From   string
	Reply  bool
	Digest crdt.Digest
}

// repairMsg is a decoded msgRepair: From asks for Origin's changes after Have.
type repairMsg struct {
	From   string
	Origin string
	Have   crdt.Position
}

func toWire(d crdt.Delta) wireDelta {
	w := wireDelta{Origin: d.Origin, Epoch: d.Epoch, From: d.From, To: d.To, Floor: d.Floor}
	if len(d.Entries) > 0 {
		w.Entries = make([]wireEntry, len(d.Entries))
		for i, e := range d.Entries {
			w.Entries[i] = wireEntry{Key: e.Key, Seq: e.Seq, Value: e.Value, Deleted: e.Deleted}
		}
	}
	return w
}

func fromWire(w wireDelta) (crdt.Delta, error) {
	d := crdt.Delta{Origin: w.Origin, Epoch: w.Epoch, From: w.From, To: w.To, Floor: w.Floor}
	if len(w.Entries) > 0 {
		d.Entries = make([]crdt.Entry, len(w.Entries))
		for i, e := range w.Entries {
			v := e.Value
			if !e.Deleted && v == nil {
				v = []byte{} // a live empty value; msgpack gives nil for empty bin
			}
			d.Entries[i] = crdt.Entry{Key: e.Key, Seq: e.Seq, Value: v, Deleted: e.Deleted}
		}
	}
	if err := d.Validate(); err != nil {
		return crdt.Delta{}, fmt.Errorf("%w: %w", ErrBadMessage, err)
	}
	return d, nil
}

func encode(t msgType, body any) ([]byte, error) {
	b, err := msgpack.Marshal(body)
	if err != nil {
		return nil, fmt.Errorf("gossip: encode %s: %w", t, err)
	}
	out := make([]byte, headerLen, headerLen+len(b))
	out[0], out[1] = byte(t), ProtocolVersion
	return append(out, b...), nil
}

// encodePush encodes a delta as a msgPush from node from.
func encodePush(from string, d crdt.Delta) ([]byte, error) {
	return encode(msgPush, pushBody{From: from, Delta: toWire(d)})
}

// encodeSync encodes a batch of deltas as a msgSync.
func encodeSync(from string, ds []crdt.Delta) ([]byte, error) {
	body := syncBody{From: from, Deltas: make([]wireDelta, len(ds))}
	for i, d := range ds {
		body.Deltas[i] = toWire(d)
	}
	return encode(msgSync, body)
}

// encodeDigest encodes a digest as a msgDigest.
func encodeDigest(from string, reply bool, dg crdt.Digest) ([]byte, error) {
	return encode(msgDigest, digestBody{From: from, Reply: reply, Rows: rowsOf(dg, nil)})
}

// rowsOf is dg as digest rows: all of them, or those keep returns true for.
func rowsOf(dg crdt.Digest, keep func(origin string) bool) []wirePosition {
	rows := make([]wirePosition, 0, len(dg))
	for o, v := range dg {
		if keep == nil || keep(o) {
			rows = append(rows, wirePosition{Origin: o, Epoch: v.Epoch, Applied: v.Applied})
		}
	}
	return rows
}

// encodeRepair encodes a gap-repair request.
func encodeRepair(from, origin string, have crdt.Position) ([]byte, error) {
	return encode(msgRepair, repairBody{From: from, Origin: origin, Epoch: have.Epoch, Applied: have.Applied})
}

// header checks the frame size, type and version, and returns the body.
func header(b []byte, want msgType) ([]byte, error) {
	switch {
	case len(b) > MaxFrame:
		return nil, fmt.Errorf("%w: %w: %d bytes over the %d limit", ErrBadMessage, ErrTooLarge, len(b), MaxFrame)
	case len(b) < headerLen:
		return nil, fmt.Errorf("%w: %d bytes, no header", ErrBadMessage, len(b))
	case msgType(b[0]) != want:
		return nil, fmt.Errorf("%w: %w: %d, want %s", ErrBadMessage, ErrUnknownType, b[0], want)
	case b[1] != ProtocolVersion:
		return nil, fmt.Errorf("%w: %w: %d", ErrBadMessage, ErrVersion, b[1])
	}
	return b[headerLen:], nil
}

func unmarshal(b []byte, t msgType, v any) error {
	body, err := header(b, t)
	if err != nil {
		return err
	}
	if err := msgpackcheck.Unmarshal(body, v); err != nil {
		return fmt.Errorf("%w: %s: %w", ErrBadMessage, t, err)
	}
	return nil
}

func checkName(what, s string) error {
	if s == "" || len(s) > maxNameLen {
		return fmt.Errorf("%w: %s length %d", ErrBadMessage, what, len(s))
	}
	return nil
}

// decodePush decodes and validates a msgPush.
func decodePush(b []byte) (pushMsg, error) {
	var body pushBody
	if err := unmarshal(b, msgPush, &body); err != nil {
		return pushMsg{}, err
	}
	if err := checkName("from", body.From); err != nil {
		return pushMsg{}, err
	}
	d, err := fromWire(body.Delta)
	if err != nil {
		return pushMsg{}, err
	}
	return pushMsg{From: body.From, Delta: d}, nil
}

// decodeSync decodes and validates a msgSync; one invalid delta rejects it all.
func decodeSync(b []byte) (syncMsg, error) {
	var body syncBody
	if err := unmarshal(b, msgSync, &body); err != nil {
		return syncMsg{}, err
	}
	if err := checkName("from", body.From); err != nil {
		return syncMsg{}, err
	}
	if len(body.Deltas) > maxBatch {
		return syncMsg{}, fmt.Errorf("%w: %w: %d deltas in a batch", ErrBadMessage, ErrTooLarge, len(body.Deltas))
	}
	s := syncMsg{From: body.From, Deltas: make([]crdt.Delta, len(body.Deltas))}
	for i, w := range body.Deltas {
		d, err := fromWire(w)
		if err != nil {
			return syncMsg{}, err
		}
		s.Deltas[i] = d
	}
	return s, nil
}

// decodeDigest decodes and validates a msgDigest: names non-empty and bounded,
// no origin twice, no applied seq without an epoch.
func decodeDigest(b []byte) (digestMsg, error) {
	var body digestBody
	if err := unmarshal(b, msgDigest, &body); err != nil {
		return digestMsg{}, err
	}
	if err := checkName("from", body.From); err != nil {
		return digestMsg{}, err
	}
	dg, err := digestOf(body.Rows)
	if err != nil {
		return digestMsg{}, err
	}
	return digestMsg{From: body.From, Reply: body.Reply, Digest: dg}, nil
}

// digestOf validates a digest's rows (at most maxDigestOrigins, names
// non-empty and bounded, no origin twice, no applied seq without an epoch)
// and returns them as a crdt.Digest.
func digestOf(rows []wirePosition) (crdt.Digest, error) {
	if len(rows) > maxDigestOrigins {
		return nil, fmt.Errorf("%w: %w: %d origins", ErrBadMessage, ErrTooLarge, len(rows))
	}
	dg := make(crdt.Digest, len(rows))
	for _, r := range rows {
		if err := checkName("origin", r.Origin); err != nil {
			return nil, err
		}
		if r.Epoch == 0 && r.Applied != 0 {
			return nil, fmt.Errorf("%w: origin %q applied %d without epoch", ErrBadMessage, r.Origin, r.Applied)
		}
		if _, dup := dg[r.Origin]; dup {
			return nil, fmt.Errorf("%w: origin %q twice", ErrBadMessage, r.Origin)
		}
		dg[r.Origin] = crdt.Position{Epoch: r.Epoch, Applied: r.Applied}
	}
	return dg, nil
}

// decodeRepair decodes and validates a msgRepair.
func decodeRepair(b []byte) (repairMsg, error) {
	var body repairBody
	if err := unmarshal(b, msgRepair, &body); err != nil {
		return repairMsg{}, err
	}
	if err := checkName("from", body.From); err != nil {
		return repairMsg{}, err
	}
	if err := checkName("origin", body.Origin); err != nil {
		return repairMsg{}, err
	}
	if body.Epoch == 0 && body.Applied != 0 {
		return repairMsg{}, fmt.Errorf("%w: applied %d without epoch", ErrBadMessage, body.Applied)
	}
	return repairMsg{From: body.From, Origin: body.Origin, Have: crdt.Position{Epoch: body.Epoch, Applied: body.Applied}}, nil
}

// leaveBody is a msgLeave: [from].
type leaveBody struct {
	//lint:ignore U1000 msgpack reads its options from this field by reflection
	_msgpack struct{} `msgpack:",as_array"`
	From     string
}

func encodeLeave(from string) ([]byte, error) { return encode(msgLeave, leaveBody{From: from}) }

// decodeLeave decodes a msgLeave and returns the leaving node's name.
func decodeLeave(b []byte) (string, error) {
	var body leaveBody
	if err := unmarshal(b, msgLeave, &body); err != nil {
		return "", err
	}
	if err := checkName("from", body.From); err != nil {
		return "", err
	}
	return body.From, nil
}
