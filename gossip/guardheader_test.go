package gossip

import (
	"bytes"
	"errors"
	"testing"

	"github.com/vmihailenco/msgpack/v5"
)

func pushPullHeader(t testing.TB, label string, nodes any) []byte {
	var b bytes.Buffer
	if label != "" {
		b.Write([]byte{mlHasLabel, byte(len(label))})
		b.WriteString(label)
	}
	b.WriteByte(mlPushPull)
	if err := msgpack.NewEncoder(&b).Encode(map[string]any{"Join": false, "Nodes": nodes, "UserStateLen": 12}); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// A plaintext push/pull header is judged once complete, wherever the stream
// cuts it; other streams pass at once.
func TestCheckPushPullHeader(t *testing.T) {
	tests := []struct {
		name string
		in   []byte
		bad  bool
	}{
		{"small", pushPullHeader(t, "", 5), false},
		{"at the bound", pushPullHeader(t, "", maxHeaderNodes), false},
		{"2^20 nodes", pushPullHeader(t, "", 1<<20), true},
		{"negative", pushPullHeader(t, "", -1), true},
		{"uint64 max", pushPullHeader(t, "", uint64(1<<64-1)), true},
		{"labelled bomb", pushPullHeader(t, "prod", 1<<20), true},
		{"user message", []byte{8, 1, 2, 3}, false},
		{"encrypted", []byte{10, 0, 0, 0, 9}, false},
		{"array form", []byte{mlPushPull, 0x93, 0xce, 0, 0x10, 0, 0}, false},
	}
	for _, tt := range tests {
		var err error
		done := false
		for i := 1; i <= len(tt.in) && !done; i++ { // byte by byte, as a slow stream
			done, err = checkPushPullHeader(tt.in[:i])
		}
		if bad := errors.Is(err, errHeaderNodes); bad != tt.bad || !done {
			t.Errorf("%s: done %v, err %v; want bad %v", tt.name, done, err, tt.bad)
		}
	}
}

func FuzzCheckPushPullHeader(f *testing.F) {
	f.Add(pushPullHeader(f, "", 1<<20))
	f.Add(pushPullHeader(f, "x", 3))
	f.Add([]byte{mlPushPull, 0xde, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, b []byte) {
		for i := 0; i <= len(b); i++ {
			if done, _ := checkPushPullHeader(b[:i]); done {
				return
			}
		}
	})
}
