package msgpackcheck

import (
	"bytes"
	"errors"
	"runtime"
	"testing"

	"github.com/vmihailenco/msgpack/v5"
)

func TestCheckAcceptsEncoderOutput(t *testing.T) {
	values := []any{
		nil, true, 1, -1, 300, -70000, uint64(1) << 40, 1.5, float32(2.5), "", "hi",
		string(bytes.Repeat([]byte("x"), 70000)), []byte{1, 2, 3}, []any{1, "a", []any{}},
		map[string]any{"a": 1, "b": []any{map[string]any{}}},
		struct {
			A int
			B []string
			C map[string][]byte
		}{1, []string{"x"}, map[string][]byte{"k": {9}}},
	}
	for _, v := range values {
		b, err := msgpack.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		if err := Check(b, DefaultMaxDepth); err != nil {
			t.Errorf("Check(%T) = %v, want nil", v, err)
		}
	}
}

func TestCheckRejects(t *testing.T) {
	deep := bytes.Repeat([]byte{0x91}, 1<<20)
	deep = append(deep, 0x01)
	tests := []struct {
		name string
		in   []byte
	}{
		{"empty", nil},
		{"array32 bomb", []byte{0xdd, 0xff, 0xff, 0xff, 0xff}},
		{"map32 bomb", []byte{0xdf, 0xff, 0xff, 0xff, 0xff}},
		{"array16 too long", []byte{0xdc, 0x00, 0x05, 0x01}},
		{"str32 too long", []byte{0xdb, 0x7f, 0xff, 0xff, 0xff, 'a'}},
		{"bin8 truncated", []byte{0xc4, 0x05, 1, 2}},
		{"ext32 too long", []byte{0xc9, 0xff, 0xff, 0xff, 0xff, 1}},
		{"never used byte", []byte{0xc1}},
		{"trailing bytes", []byte{0x01, 0x02}},
		{"truncated float", []byte{0xcb, 0, 0}},
		{"deep nesting", deep},
	}
	for _, tt := range tests {
		err := Check(tt.in, DefaultMaxDepth)
		if !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: Check = %v, want ErrInvalid", tt.name, err)
		}
	}
}

// TestUnmarshalBombsStaySmall is docs/hazards.md's bar: the bombs allocate < 64 KiB
// and do not crash.
func TestUnmarshalBombsStaySmall(t *testing.T) {
	bombs := [][]byte{
		{0xdd, 0xff, 0xff, 0xff, 0xff},
		{0xdf, 0xff, 0xff, 0xff, 0xff},
		append(bytes.Repeat([]byte{0x91}, 5<<20), 0x01),
	}
	for i, b := range bombs {
		var ms0, ms1 runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&ms0)
		var v any
		if err := Unmarshal(b, &v); err == nil {
			t.Errorf("bomb %d decoded", i)
		}
		runtime.ReadMemStats(&ms1)
		if got := ms1.TotalAlloc - ms0.TotalAlloc; got > 64<<10 {
			t.Errorf("bomb %d allocated %d bytes, want < 64 KiB", i, got)
		}
	}
}

func FuzzCheck(f *testing.F) {
	for _, v := range []any{1, "s", []any{1, []any{2}}, map[string]any{"k": []byte{1}}} {
		b, _ := msgpack.Marshal(v)
		f.Add(b)
	}
	f.Add([]byte{0xdd, 0xff, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) > 1<<16 {
			return
		}
		var v any
		if err := Unmarshal(b, &v); err != nil {
			return
		}
		// Whatever passed must round-trip through the encoder and pass again.
		out, err := msgpack.Marshal(v)
		if err != nil {
			t.Fatalf("re-encode: %v", err)
		}
		if err := Check(out, DefaultMaxDepth); err != nil {
			t.Fatalf("re-encoded value rejected: %v", err)
		}
	})
}
