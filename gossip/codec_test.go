package gossip

import (
	"bytes"
	"errors"
	"reflect"
	"runtime"
	"testing"

	"github.com/grapevine-sd/grapevine/crdt"
)

func sampleDelta() crdt.Delta {
	return crdt.Delta{Origin: "node-a", Epoch: 3, From: 5, To: 7, Floor: 2, Entries: []crdt.Entry{
		{Key: "web-1", Seq: 7, Value: []byte("10.0.0.1:80")},
		{Key: "web-2", Seq: 5, Deleted: true},
		{Key: "empty", Seq: 6, Value: []byte{}},
	}}
}

func TestCodecRoundTrip(t *testing.T) {
	d := sampleDelta()
	announce := crdt.Delta{Origin: "node-b", Epoch: 1, From: 1, To: 1}
	t.Run("push", func(t *testing.T) {
		b, err := encodePush("me", d)
		if err != nil {
			t.Fatal(err)
		}
		got, err := decodePush(b)
		if err != nil {
			t.Fatal(err)
		}
		if want := (pushMsg{From: "me", Delta: d}); !reflect.DeepEqual(got, want) {
			t.Errorf("got %+v, want %+v", got, want)
		}
		if b[0] != byte(msgPush) || b[1] != ProtocolVersion {
			t.Errorf("header % x, want %02x %02x", b[:2], msgPush, ProtocolVersion)
		}
		if len(b)-headerLen > d.Size() {
			t.Errorf("encoded body %d bytes > crdt estimate %d", len(b)-headerLen, d.Size())
		}
	})
	t.Run("sync", func(t *testing.T) {
		b, err := encodeSync("me", []crdt.Delta{d, announce})
		if err != nil {
			t.Fatal(err)
		}
		got, err := decodeSync(b)
		if err != nil {
			t.Fatal(err)
		}
		if want := (syncMsg{From: "me", Deltas: []crdt.Delta{d, announce}}); !reflect.DeepEqual(got, want) {
			t.Errorf("got %+v, want %+v", got, want)
		}
	})
	t.Run("digest", func(t *testing.T) {
		dg := crdt.Digest{"a": {Epoch: 1, Applied: 9}, "b": {Epoch: 2, Applied: 1}}
		b, err := encodeDigest("me", true, dg)
		if err != nil {
			t.Fatal(err)
		}
		got, err := decodeDigest(b)
		if err != nil {
			t.Fatal(err)
		}
		if want := (digestMsg{From: "me", Reply: true, Digest: dg}); !reflect.DeepEqual(got, want) {
			t.Errorf("got %+v, want %+v", got, want)
		}
	})
	t.Run("repair", func(t *testing.T) {
		b, err := encodeRepair("me", "a", crdt.Position{Epoch: 4, Applied: 2})
		if err != nil {
			t.Fatal(err)
		}
		got, err := decodeRepair(b)
		if err != nil {
			t.Fatal(err)
		}
		if want := (repairMsg{From: "me", Origin: "a", Have: crdt.Position{Epoch: 4, Applied: 2}}); got != want {
			t.Errorf("got %+v, want %+v", got, want)
		}
	})
}

func must(b []byte, err error) []byte {
	if err != nil {
		panic(err)
	}
	return b
}

func TestDecodeRejects(t *testing.T) {
	good := must(encodePush("me", sampleDelta()))
	bad := sampleDelta()
	bad.Entries[1].Key = bad.Entries[0].Key // duplicate key
	dup := must(encodePush("me", bad))
	noFrom := must(encodePush("", sampleDelta()))
	withBody := func(body ...byte) []byte { return append([]byte{byte(msgPush), ProtocolVersion}, body...) }
	tests := []struct {
		name string
		b    []byte
		want error
	}{
		{"empty", nil, ErrBadMessage},
		{"header only", good[:2], ErrBadMessage},
		{"wrong type", append([]byte{byte(msgDigest)}, good[1:]...), ErrUnknownType},
		{"future version", append([]byte{good[0], 99}, good[2:]...), ErrVersion},
		{"truncated", good[:len(good)-3], ErrBadMessage},
		{"trailing", append(bytes.Clone(good), 0xc0), ErrBadMessage},
		{"invalid delta", dup, crdt.ErrInvalidDelta},
		{"no sender", noFrom, ErrBadMessage},
		{"array32 bomb", withBody(0xdd, 0xff, 0xff, 0xff, 0xff), ErrBadMessage},
		{"map32 bomb", withBody(0xdf, 0xff, 0xff, 0xff, 0xff), ErrBadMessage},
		{"deep nesting", withBody(bytes.Repeat([]byte{0x91}, 1<<20)...), ErrBadMessage},
		{"oversized", withBody(make([]byte, MaxFrame)...), ErrBadMessage},
		{"wrong shape", withBody(0x92, 0xa1, 'x', 0x01), ErrBadMessage},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			_, err := decodePush(tc.b)
			runtime.ReadMemStats(&after)
			if !errors.Is(err, tc.want) {
				t.Errorf("decodePush: got %v, want %v", err, tc.want)
			}
			if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 64<<10+uint64(4*len(tc.b)) {
				t.Errorf("allocated %d bytes for %d input bytes", alloc, len(tc.b))
			}
		})
	}
}

func TestDecodeDigestRejects(t *testing.T) {
	tests := []struct {
		name string
		body digestBody
	}{
		{"duplicate origin", digestBody{From: "x", Rows: []wirePosition{{Origin: "a", Epoch: 1}, {Origin: "a", Epoch: 2}}}},
		{"empty origin", digestBody{From: "x", Rows: []wirePosition{{Origin: "", Epoch: 1}}}},
		{"applied without epoch", digestBody{From: "x", Rows: []wirePosition{{Origin: "a", Applied: 3}}}},
		{"no sender", digestBody{Rows: []wirePosition{{Origin: "a", Epoch: 1}}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := must(encode(msgDigest, tc.body))
			if _, err := decodeDigest(b); !errors.Is(err, ErrBadMessage) {
				t.Errorf("got %v, want ErrBadMessage", err)
			}
		})
	}
}

func TestCoalesce(t *testing.T) {
	a := crdt.Delta{Origin: "o", Epoch: 1, From: 2, To: 3, Entries: []crdt.Entry{
		{Key: "k1", Seq: 2, Value: []byte("1")}, {Key: "k2", Seq: 3, Value: []byte("2")}}}
	b := crdt.Delta{Origin: "o", Epoch: 1, From: 4, To: 4, Entries: []crdt.Entry{{Key: "k1", Seq: 4, Deleted: true}}}
	got, ok := coalesce(a, b)
	want := crdt.Delta{Origin: "o", Epoch: 1, From: 2, To: 4, Entries: []crdt.Entry{
		{Key: "k2", Seq: 3, Value: []byte("2")}, {Key: "k1", Seq: 4, Deleted: true}}}
	if !ok || !reflect.DeepEqual(got, want) {
		t.Errorf("coalesce = %+v, %v; want %+v", got, ok, want)
	}
	if err := got.Validate(); err != nil {
		t.Errorf("coalesced delta invalid: %v", err)
	}
	// Applying the coalesced window equals applying both.
	src := crdt.New("o", 1)
	src.Put("k1", []byte("1"))
	src.Put("k2", []byte("2"))
	src.Delete("k1")
	r1, r2 := crdt.New("r1", 1), crdt.New("r2", 1)
	for _, d := range src.DeltaSince(nil, 1<<20) {
		r1.Merge(d)
	}
	r2.Merge(crdt.Delta{Origin: "o", Epoch: 1, From: 1, To: 1})
	r2.Merge(got)
	if r1.Hash() != r2.Hash() || r1.Position("o") != r2.Position("o") {
		t.Errorf("coalesced merge: hash %x position %v, want %x %v", r2.Hash(), r2.Position("o"), r1.Hash(), r1.Position("o"))
	}
	for _, tc := range []struct {
		name string
		b    crdt.Delta
	}{
		{"gap", crdt.Delta{Origin: "o", Epoch: 1, From: 5, To: 5}},
		{"other epoch", crdt.Delta{Origin: "o", Epoch: 2, From: 4, To: 4}},
		{"other origin", crdt.Delta{Origin: "p", Epoch: 1, From: 4, To: 4}},
	} {
		if _, ok := coalesce(a, tc.b); ok {
			t.Errorf("%s: coalesced, want not", tc.name)
		}
	}
}
