package catalog

import (
	"bytes"
	"fmt"
	"slices"

	"github.com/grapevine-sd/grapevine/internal/msgpackcheck"
	"github.com/vmihailenco/msgpack/v5"
)

// valueFormat is the first element of an encoded record. Decoders accept
// records with more trailing elements than they know (fields are only ever
// appended), so a newer agent's records stay readable.
const valueFormat = 1

// wireInstance is a record's value in the crdt: a msgpack array
// [format, service, address, port, tags, meta pairs, zone, health, output].
// ID is the crdt key and Node the origin, so neither is repeated. Meta travels
// as a flat array of key, value pairs sorted by key: the encoding of one
// instance is deterministic.
type wireInstance struct {
	Service string
	Address string
	Port    int
	Tags    []string
	Meta    []string
	Zone    string
	Health  Health
	Output  string
}

var (
	_ msgpack.CustomEncoder = (*wireInstance)(nil)
	_ msgpack.CustomDecoder = (*wireInstance)(nil)
)

const wireFields = 9

// EncodeMsgpack implements msgpack.CustomEncoder.
func (w *wireInstance) EncodeMsgpack(e *msgpack.Encoder) error {
	var err error
	put := func(f func() error) {
		if err == nil {
			err = f()
		}
	}
	put(func() error { return e.EncodeArrayLen(wireFields) })
	put(func() error { return e.EncodeUint(valueFormat) })
	put(func() error { return e.EncodeString(w.Service) })
	put(func() error { return e.EncodeString(w.Address) })
	put(func() error { return e.EncodeUint(uint64(w.Port)) })
	for _, list := range [][]string{w.Tags, w.Meta} {
		put(func() error { return e.EncodeArrayLen(len(list)) })
		for _, s := range list {
			put(func() error { return e.EncodeString(s) })
		}
	}
	put(func() error { return e.EncodeString(w.Zone) })
	put(func() error { return e.EncodeUint(uint64(w.Health)) })
	put(func() error { return e.EncodeString(w.Output) })
	return err
}

// DecodeMsgpack implements msgpack.CustomDecoder. It is only ever reached
// through msgpackcheck.Unmarshal, so container lengths are already bounded by
// the input size.
func (w *wireInstance) DecodeMsgpack(d *msgpack.Decoder) error {
	n, err := d.DecodeArrayLen()
	if err != nil {
		return err
	}
	if n < wireFields {
		return fmt.Errorf("record has %d fields, want at least %d", n, wireFields)
	}
	format, err := d.DecodeUint64()
	if err != nil {
		return err
	}
	if format != valueFormat {
		return fmt.Errorf("record format %d, want %d", format, valueFormat)
	}
	if w.Service, err = d.DecodeString(); err != nil {
		return err
	}
	if w.Address, err = d.DecodeString(); err != nil {
		return err
	}
	port, err := d.DecodeUint64()
	if err != nil {
		return err
	}
	if port > maxPortNumber {
		return fmt.Errorf("port %d", port)
	}
	w.Port = int(port)
	if w.Tags, err = decodeStrings(d, MaxTags); err != nil {
		return err
	}
	if w.Meta, err = decodeStrings(d, 2*MaxMeta); err != nil {
		return err
	}
	if len(w.Meta)%2 != 0 {
		return fmt.Errorf("odd meta pair array")
	}
	if w.Zone, err = d.DecodeString(); err != nil {
		return err
	}
	h, err := d.DecodeUint64()
	if err != nil {
		return err
	}
	if h > uint64(HealthMaintenance) {
		return fmt.Errorf("health %d", h)
	}
	w.Health = Health(h)
	if w.Output, err = d.DecodeString(); err != nil {
		return err
	}
	for i := wireFields; i < n; i++ { // fields appended by newer agents
		if err := d.Skip(); err != nil {
			return err
		}
	}
	return nil
}

func decodeStrings(d *msgpack.Decoder, max int) ([]string, error) {
	n, err := d.DecodeArrayLen()
	if err != nil {
		return nil, err
	}
	if n > max {
		return nil, fmt.Errorf("%d strings (max %d)", n, max)
	}
	if n <= 0 {
		return nil, nil
	}
	out := make([]string, n)
	for i := range out {
		if out[i], err = d.DecodeString(); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// encodeValue returns the crdt value of a validated instance.
func encodeValue(in *Instance) []byte {
	w := wireInstance{
		Service: in.Service, Address: in.Address, Port: in.Port, Tags: in.Tags,
		Zone: in.Zone, Health: in.Health, Output: in.Output,
	}
	if len(in.Meta) > 0 {
		keys := make([]string, 0, len(in.Meta))
		for k := range in.Meta {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		w.Meta = make([]string, 0, 2*len(keys))
		for _, k := range keys {
			w.Meta = append(w.Meta, k, in.Meta[k])
		}
	}
	var buf bytes.Buffer
	if err := w.EncodeMsgpack(msgpack.NewEncoder(&buf)); err != nil {
		panic("catalog: encode record: " + err.Error()) // writes to a bytes.Buffer cannot fail
	}
	return buf.Bytes()
}

// decodeValue decodes and validates the record key of origin. Bytes from the
// network go through msgpackcheck first; any failure is an ErrInvalidInstance.
func decodeValue(origin, key string, b []byte) (Instance, error) {
	var w wireInstance
	if err := msgpackcheck.Unmarshal(b, &w); err != nil {
		return Instance{}, fmt.Errorf("%w: record %s/%s: %v", ErrInvalidInstance, origin, key, err)
	}
	in := Instance{
		ID: key, Service: w.Service, Node: origin, Address: w.Address, Port: w.Port,
		Tags: w.Tags, Zone: w.Zone, Health: w.Health, Output: w.Output,
	}
	if len(w.Meta) > 0 {
		in.Meta = make(map[string]string, len(w.Meta)/2)
		for i := 0; i < len(w.Meta); i += 2 {
			if _, dup := in.Meta[w.Meta[i]]; dup {
				return Instance{}, fmt.Errorf("%w: record %s/%s: meta key %q twice", ErrInvalidInstance, origin, key, w.Meta[i])
			}
			in.Meta[w.Meta[i]] = w.Meta[i+1]
		}
	}
	if err := in.Validate(); err != nil {
		return Instance{}, fmt.Errorf("record %s/%s: %w", origin, key, err)
	}
	return in, nil
}

// valueService returns the service name of encoded record b (its third
// element) without decoding the rest, or nil if b is not a decodable record.
// It reads the forms this package's encoder writes directly and leaves any
// other encoding to the decoder, so it names the service decodeValue would.
func valueService(b []byte) []byte {
	i, ok := skipHeader(b)
	if ok && i < len(b) {
		if n, at, ok := strHeader(b[i:]); ok && i+at+n <= len(b) {
			return b[i+at : i+at+n]
		}
	}
	var w wireInstance
	if err := msgpackcheck.Unmarshal(b, &w); err != nil {
		return nil
	}
	return []byte(w.Service)
}

// skipHeader returns where the service starts in b when b opens with an
// array header and the format as a positive fixint (what encodeValue writes).
func skipHeader(b []byte) (int, bool) {
	if len(b) < 2 {
		return 0, false
	}
	i := 0
	switch c := b[0]; {
	case c >= 0x90 && c <= 0x9f: // fixarray
		i = 1
	case c == 0xdc: // array 16
		i = 3
	default:
		return 0, false
	}
	if i >= len(b) || b[i] != valueFormat {
		return 0, false
	}
	return i + 1, true
}

// strHeader decodes a msgpack str header: the string's length and where its
// bytes start.
func strHeader(b []byte) (n, at int, ok bool) {
	switch c := b[0]; {
	case c >= 0xa0 && c <= 0xbf: // fixstr
		return int(c & 0x1f), 1, true
	case c == 0xd9 && len(b) >= 2: // str 8
		return int(b[1]), 2, true
	case c == 0xda && len(b) >= 3: // str 16
		return int(b[1])<<8 | int(b[2]), 3, true
	}
	return 0, 0, false
}
