package catalog

import (
	"bytes"
	"errors"
	"reflect"
	"testing"

	"github.com/grapevine-sd/grapevine/internal/msgpackcheck"
	"github.com/vmihailenco/msgpack/v5"
)

func TestCodecRoundTrip(t *testing.T) {
	in := validInstance()
	in.Meta = map[string]string{"b": "2", "a": "1", "c": ""}
	in.Output = "ok"
	b := encodeValue(&in)
	if !bytes.Equal(b, encodeValue(&in)) {
		t.Fatal("encoding is not deterministic")
	}
	got, err := decodeValue(in.Node, in.ID, b)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, in) {
		t.Fatalf("got %+v, want %+v", got, in)
	}
	t.Logf("encoded size %d bytes", len(b))
}

// A record from a newer agent with appended fields still decodes.
func TestCodecForwardCompatible(t *testing.T) {
	in := validInstance()
	var buf bytes.Buffer
	e := msgpack.NewEncoder(&buf)
	w := wireInstance{Service: in.Service, Address: in.Address, Port: in.Port, Tags: in.Tags,
		Meta: []string{"ver", "1.2"}, Zone: in.Zone, Health: in.Health}
	_ = e.EncodeArrayLen(wireFields + 2)
	_ = e.EncodeUint(valueFormat)
	for _, v := range []any{w.Service, w.Address, w.Port, w.Tags, w.Meta, w.Zone, uint8(w.Health), w.Output, "new", map[string]int{"x": 1}} {
		if err := e.Encode(v); err != nil {
			t.Fatal(err)
		}
	}
	got, err := decodeValue(in.Node, in.ID, buf.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, in) {
		t.Fatalf("got %+v, want %+v", got, in)
	}
}

func TestCodecRejects(t *testing.T) {
	good := validInstance()
	enc := func(v any) []byte {
		b, err := msgpack.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	tests := []struct {
		name string
		b    []byte
	}{
		{"empty", nil},
		{"not an array", enc("x")},
		{"short array", enc([]any{1, "web"})},
		{"wrong format", enc([]any{2, "web", "", 1, nil, nil, "", 1, ""})},
		{"bad port", enc([]any{1, "web", "", 70000, nil, nil, "", 1, ""})},
		{"bad health", enc([]any{1, "web", "", 80, nil, nil, "", 7, ""})},
		{"odd meta", enc([]any{1, "web", "", 80, nil, []string{"a"}, "", 1, ""})},
		{"duplicate meta", enc([]any{1, "web", "", 80, nil, []string{"a", "1", "a", "2"}, "", 1, ""})},
		{"invalid service", enc([]any{1, "WEB", "", 80, nil, nil, "", 1, ""})},
		{"array bomb", []byte{0xdd, 0xff, 0xff, 0xff, 0xff}},
		{"trailing", append(encodeValue(&good), 0xc0)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := decodeValue("n1", "id", tt.b)
			if !errors.Is(err, ErrInvalidInstance) {
				t.Fatalf("got %v, want ErrInvalidInstance", err)
			}
		})
	}
}

func FuzzDecodeValue(f *testing.F) {
	in := validInstance()
	f.Add(encodeValue(&in))
	in.Meta, in.Tags = nil, nil
	f.Add(encodeValue(&in))
	f.Add([]byte{0xdd, 0xff, 0xff, 0xff, 0xff})
	f.Add([]byte{0x99, 0x01})
	f.Fuzz(func(t *testing.T, b []byte) {
		got, err := decodeValue("n1", "id", b)
		if err != nil {
			return
		}
		// Whatever decodes is valid and re-encodes to something that decodes
		// to the same instance.
		if err := got.Validate(); err != nil {
			t.Fatalf("decoded invalid instance: %v", err)
		}
		again, err := decodeValue("n1", "id", encodeValue(&got))
		if err != nil || !reflect.DeepEqual(again, got) {
			t.Fatalf("re-encode: %v, %+v vs %+v", err, again, got)
		}
	})
}

// FuzzValueService: the service read from a record's first bytes is the one
// the decoder reads, for every input the decoder accepts.
func FuzzValueService(f *testing.F) {
	in := Instance{Service: "web", Address: "10.0.0.1", Port: 80, Tags: []string{"a"}, Meta: map[string]string{"k": "v"}, Health: HealthPassing}
	f.Add(encodeValue(&in))
	in.Service = "a-service-name-longer-than-thirty-one-bytes"
	f.Add(encodeValue(&in))
	odd, _ := msgpack.Marshal([]any{uint16(1), []byte("web"), "", 80, nil, nil, "", 1, ""}) // bin service, wide format
	f.Add(odd)
	f.Add([]byte{0x99, 0x01, 0xa3, 'w'})
	f.Fuzz(func(t *testing.T, b []byte) {
		got := valueService(b)
		var w wireInstance
		if err := msgpackcheck.Unmarshal(b, &w); err != nil {
			return // not a record: no service is looked up under it
		}
		if string(got) != w.Service {
			t.Fatalf("valueService %q, decoder %q", got, w.Service)
		}
	})
}
