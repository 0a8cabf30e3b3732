package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"reflect"
	"strconv"
	"strings"
	"testing"
)

func readAllEvents(t *testing.T, in string, max int) ([]sseEvent, error) {
	t.Helper()
	r := newSSEReader(strings.NewReader(in), max)
	var out []sseEvent
	for {
		ev, err := r.next()
		if err != nil {
			return out, err
		}
		ev.data = bytes.Clone(ev.data)
		out = append(out, ev)
	}
}

func TestSSEReader(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    []sseEvent
		wantErr error
	}{
		{"one", "id: 1\nevent: upsert\ndata: {}\n\n", []sseEvent{{id: "1", event: "upsert", data: []byte("{}")}}, io.EOF},
		{"crlf and cr", "id:2\r\ndata:a\r\rdata: b\r\n\r\n", []sseEvent{{id: "2", data: []byte("a")}, {data: []byte("b")}}, io.EOF},
		{"multi-line data", "data: a\ndata: b\n\n", []sseEvent{{data: []byte("a\nb")}}, io.EOF},
		{"comments and retry", ": ping\n\nretry: 10\n: x\ndata: d\n\n", []sseEvent{{data: []byte("d")}}, io.EOF},
		{"no data dispatches nothing", "id: 3\nevent: x\n\n", nil, io.EOF},
		{"unterminated event", "data: a\n", nil, io.ErrUnexpectedEOF},
		{"unterminated line", "data: a", nil, io.ErrUnexpectedEOF},
		{"too large", "data: " + strings.Repeat("x", 100) + "\n\n", nil, ErrTooLarge},
		{"too large over lines", strings.Repeat("data: xxxxxxxxxx\n", 10) + "\n", nil, ErrTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := readAllEvents(t, tt.in, 64)
			if !errors.Is(err, tt.wantErr) {
				t.Errorf("err = %v, want %v", err, tt.wantErr)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestWriteEventRoundTrip(t *testing.T) {
	events := []StreamEvent{
		{Index: 1, Type: EventReset, Instances: []Instance{{ID: "a", Service: "web", Node: "n1", Output: "line1\nline2"}}},
		{Index: 2, Type: EventUpsert, Instance: &Instance{ID: "b", Service: "web", Node: "n2", Health: HealthCritical}},
		{Index: 3, Type: EventDelete, Instance: &Instance{ID: "a", Service: "web", Node: "n1"}},
	}
	var buf bytes.Buffer
	for _, ev := range events {
		if err := WriteEvent(&buf, ev); err != nil {
			t.Fatal(err)
		}
		buf.WriteString(": ping\n\n")
	}
	r := newSSEReader(&buf, 1<<20)
	for _, want := range events {
		raw, err := r.next()
		if err != nil {
			t.Fatal(err)
		}
		got, err := decodeStreamEvent(raw.data)
		if err != nil {
			t.Fatal(err)
		}
		if raw.event != string(want.Type) || raw.id != strconv.FormatUint(want.Index, 10) {
			t.Errorf("framing: event %q id %q for %+v", raw.event, raw.id, want)
		}
		if !sameJSON(got, want) {
			t.Errorf("got %+v, want %+v", got, want)
		}
	}
	if _, err := r.next(); err != io.EOF {
		t.Errorf("end: err = %v, want EOF", err)
	}
}

func TestDecodeStreamEvent(t *testing.T) {
	tests := []struct {
		data string
		ok   bool
	}{
		{`{"index":1,"type":"reset"}`, true},
		{`{"index":1,"type":"upsert","instance":{"id":"a"},"future":true}`, true},
		{`{"index":1,"type":"somethingnew"}`, true}, // skipped by the client, not an error
		{`{"index":1,"type":"upsert"}`, false},
		{`{"index":1,"type":"delete","instance":null}`, false},
		{`{"index":-1,"type":"reset"}`, false},
		{`not json`, false},
	}
	for _, tt := range tests {
		_, err := decodeStreamEvent([]byte(tt.data))
		if (err == nil) != tt.ok {
			t.Errorf("%s: err = %v, want ok=%v", tt.data, err, tt.ok)
		}
	}
}

// sameJSON compares the wire forms (nil and empty tags are the same on the
// wire).
func sameJSON(a, b any) bool {
	ja, errA := json.Marshal(a)
	jb, errB := json.Marshal(b)
	return errA == nil && errB == nil && bytes.Equal(ja, jb)
}
