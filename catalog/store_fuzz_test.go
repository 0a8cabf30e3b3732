package catalog

import (
	"bytes"
	"testing"
)

// FuzzDecodeLog decodes arbitrary bytes as a registrations log: it never
// panics, and whatever it accepts encodes back to lines that decode to the
// same records.
func FuzzDecodeLog(f *testing.F) {
	head, _ := encodeLine(logRec{Format: logFormat})
	put, _ := encodeLine(logRec{Put: &regDoc{Instance: Instance{ID: "w1", Service: "web", Address: "10.0.0.1", Port: 80}}})
	del, _ := encodeLine(logRec{Del: "w1"})
	f.Add(head)
	f.Add(append(append(bytes.Clone(head), put...), del...))
	f.Add(append(bytes.Clone(head), put[:len(put)/2]...))
	f.Add(append(append(bytes.Clone(head), []byte("00000000 {}\n")...), del...))
	f.Add([]byte("deadbeef {\"format\":9}\n"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		recs, tail, err := decodeLog(b)
		if err != nil {
			return
		}
		if tail < 0 || tail > len(b) {
			t.Fatalf("tail %d of %d bytes", tail, len(b))
		}
		again := bytes.Clone(head)
		for _, r := range recs {
			line, err := encodeLine(r)
			if err != nil {
				t.Fatalf("re-encode %+v: %v", r, err)
			}
			again = append(again, line...)
		}
		recs2, tail2, err := decodeLog(again)
		if err != nil || tail2 != 0 || len(recs2) != len(recs) {
			t.Fatalf("re-decoded %d records (tail %d, %v), want %d", len(recs2), tail2, err, len(recs))
		}
	})
}
