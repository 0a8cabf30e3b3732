package agent

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/memberlist"
)

func TestMetaRoundTrip(t *testing.T) {
	changed := time.UnixMilli(1_760_000_000_123).UTC()
	tests := []struct {
		name string
		in   nodeMeta
	}{
		{"empty", nodeMeta{}},
		{"zone only", nodeMeta{Zone: "eu-1"}},
		{"all", nodeMeta{Zone: "eu-1", HTTP: "[::1]:7947", Version: "v1.2.3", Fingerprint: &fingerprint{Hash: 0xdeadbeefcafef00d, Origins: 100, Instances: 12345, Changed: changed}}},
		{"zero fingerprint", nodeMeta{Fingerprint: &fingerprint{}}},
		{"max values", nodeMeta{Fingerprint: &fingerprint{Hash: ^uint64(0), Origins: ^uint64(0), Instances: ^uint64(0)}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := encodeMeta(tt.in)
			if len(b) > memberlist.MetaMaxSize {
				t.Fatalf("%d bytes", len(b))
			}
			got, err := decodeMeta(b)
			if err != nil {
				t.Fatalf("decode: %v", err)
			}
			if !metaEqual(got, tt.in) {
				t.Errorf("got %+v, want %+v", got, tt.in)
			}
		})
	}
}

func metaEqual(a, b nodeMeta) bool {
	if a.Zone != b.Zone || a.HTTP != b.HTTP || a.Version != b.Version || (a.Fingerprint == nil) != (b.Fingerprint == nil) {
		return false
	}
	if a.Fingerprint == nil {
		return true
	}
	fa, fb := *a.Fingerprint, *b.Fingerprint
	return fa.Hash == fb.Hash && fa.Origins == fb.Origins && fa.Instances == fb.Instances && fa.Changed.Equal(fb.Changed)
}

// Long fields are cut so the whole fits 512 bytes; the fingerprint always stays.
func TestMetaFits(t *testing.T) {
	m := nodeMeta{Zone: strings.Repeat("z", 64), HTTP: strings.Repeat("h", 500), Version: strings.Repeat("é", 300), Fingerprint: &fingerprint{Hash: 7}}
	b := encodeMeta(m)
	got, err := decodeMeta(b)
	if err != nil || len(b) > memberlist.MetaMaxSize || got.Fingerprint == nil || got.Fingerprint.Hash != 7 || got.Zone != m.Zone {
		t.Fatalf("%d bytes, %+v, %v", len(b), got, err)
	}
}

func TestMetaDecodeErrors(t *testing.T) {
	valid := encodeMeta(nodeMeta{Zone: "a", Fingerprint: &fingerprint{Hash: 1}})
	tests := []struct {
		name string
		in   []byte
	}{
		{"unknown version", []byte{2, tagZone, 1, 'a'}},
		{"truncated length", []byte{metaVersion, tagZone}},
		{"length past end", []byte{metaVersion, tagZone, 5, 'a'}},
		{"huge varint", append([]byte{metaVersion, tagZone}, bytes.Repeat([]byte{0xff}, 10)...)},
		{"duplicate field", []byte{metaVersion, tagZone, 1, 'a', tagZone, 1, 'b'}},
		{"short fingerprint", []byte{metaVersion, tagFingerprint, 3, 1, 2, 3}},
		{"fingerprint without counts", append([]byte{metaVersion, tagFingerprint, 8}, make([]byte, 8)...)},
		{"bad utf-8", []byte{metaVersion, tagZone, 2, 0xff, 0xfe}},
		{"bad json", []byte(`{"zone":`)},
		{"too large", append(valid, make([]byte, memberlist.MetaMaxSize)...)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if m, err := decodeMeta(tt.in); !errors.Is(err, errBadMeta) {
				t.Errorf("got %+v, %v; want errBadMeta", m, err)
			}
		})
	}
	// Unknown fields are skipped (later versions append fields).
	withExtra := append(bytes.Clone(valid), 99, 3, 'x', 'y', 'z')
	if m, err := decodeMeta(withExtra); err != nil || m.Zone != "a" || m.Fingerprint == nil {
		t.Errorf("unknown field: %+v, %v", m, err)
	}
	// Agents before version 1 sent JSON.
	if m, err := decodeMeta([]byte(`{"zone":"eu","http":"127.0.0.1:7947"}`)); err != nil || m.Zone != "eu" || m.HTTP != "127.0.0.1:7947" || m.Fingerprint != nil {
		t.Errorf("legacy: %+v, %v", m, err)
	}
}

// FuzzDecodeMeta: any bytes decode or fail cleanly; what decodes re-encodes to
// something that decodes to the same.
func FuzzDecodeMeta(f *testing.F) {
	f.Add(encodeMeta(nodeMeta{Zone: "eu-1", HTTP: "127.0.0.1:7947", Version: "v1", Fingerprint: &fingerprint{Hash: 1, Origins: 2, Instances: 3, Changed: time.UnixMilli(4)}}))
	f.Add([]byte(`{"zone":"eu"}`))
	f.Add([]byte{metaVersion, tagFingerprint, 0xff, 0xff, 0xff, 0xff, 0x0f})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := decodeMeta(b)
		if err != nil {
			return
		}
		again, err := decodeMeta(encodeMeta(m))
		if err != nil || !metaEqual(again, m) {
			t.Fatalf("re-encode: %+v, %v; want %+v", again, err, m)
		}
	})
}
