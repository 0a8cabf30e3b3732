package gossip

import (
	"errors"
	"reflect"
	"testing"

	"github.com/grapevine-sd/grapevine/crdt"
)

func TestDeparturesRoundTrip(t *testing.T) {
	want := []crdt.Departure{{Origin: "a", Epoch: 7, AgeMs: 5000}, {Origin: "b", Epoch: 1 << 60, Left: true}}
	m, err := decodeDepartures(must(encodeDepartures("n1", want)))
	if err != nil || m.From != "n1" || !reflect.DeepEqual(m.Departures, want) {
		t.Fatalf("round trip: %+v, %v", m, err)
	}
}

func TestDecodeDeparturesRejects(t *testing.T) {
	tests := []struct {
		name string
		body departuresBody
	}{
		{"duplicate origin", departuresBody{From: "x", Rows: []wireDeparture{{Origin: "a", Epoch: 1}, {Origin: "a", Epoch: 2}}}},
		{"empty origin", departuresBody{From: "x", Rows: []wireDeparture{{Origin: "", Epoch: 1}}}},
		{"no epoch", departuresBody{From: "x", Rows: []wireDeparture{{Origin: "a"}}}},
		{"no sender", departuresBody{Rows: []wireDeparture{{Origin: "a", Epoch: 1}}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := decodeDepartures(must(encode(msgDepartures, tc.body))); !errors.Is(err, ErrBadMessage) {
				t.Errorf("got %v, want ErrBadMessage", err)
			}
		})
	}
	// Other types and versions are not departures.
	b := must(encodeDepartures("x", []crdt.Departure{{Origin: "a", Epoch: 1}}))
	b[1] = ProtocolVersion + 1
	if _, err := decodeDepartures(b); !errors.Is(err, ErrVersion) {
		t.Errorf("other version: %v", err)
	}
}
