package gossip

import (
	"fmt"

	"github.com/grapevine-sd/grapevine/crdt"
)

// Departures: memberlist tells a node that joins about live members only, so
// an agent that joined after a host failed or left would not know it, and would
// treat that host's records, which its peers still hold, as its peers do not.
// A node answering a digest therefore first sends the peer the departures it
// lacks (msgDepartures), when its Store keeps them (DepartureStore).

// DepartureStore is a Store that keeps membership news of departed origins
// (catalog.Catalog does).
type DepartureStore interface {
	// Departures returns the departed origins a peer with digest peer lacks.
	Departures(peer crdt.Digest) []crdt.Departure
	// LearnDepartures takes a peer's departures.
	LearnDepartures(from string, ds []crdt.Departure)
}

// wireDeparture is one crdt.Departure: [origin, epoch, left, age_ms].
type wireDeparture struct {
	//lint:ignore U1000 msgpack reads its options from this field by reflection
	_msgpack struct{} `msgpack:",as_array"`
	Origin   string
	Epoch    uint64
	Left     bool
	AgeMs    uint64
}

// departuresBody is a msgDepartures: [from, [departure...]].
type departuresBody struct {
	//lint:ignore U1000 msgpack reads its options from this field by reflection
	_msgpack struct{} `msgpack:",as_array"`
	From     string
	Rows     []wireDeparture
}

// departuresMsg is a decoded msgDepartures.
type departuresMsg struct {
	From       string
	Departures []crdt.Departure
}

func encodeDepartures(from string, ds []crdt.Departure) ([]byte, error) {
	body := departuresBody{From: from, Rows: make([]wireDeparture, len(ds))}
	for i, d := range ds {
		body.Rows[i] = wireDeparture{Origin: d.Origin, Epoch: d.Epoch, Left: d.Left, AgeMs: d.AgeMs}
	}
	return encode(msgDepartures, body)
}

// decodeDepartures decodes and validates a msgDepartures: names non-empty and
// bounded, an epoch on every row, no origin twice, at most maxDigestOrigins rows.
func decodeDepartures(b []byte) (departuresMsg, error) {
	var body departuresBody
	if err := unmarshal(b, msgDepartures, &body); err != nil {
		return departuresMsg{}, err
	}
	if err := checkName("from", body.From); err != nil {
		return departuresMsg{}, err
	}
	if len(body.Rows) > maxDigestOrigins {
		return departuresMsg{}, fmt.Errorf("%w: %d departures", ErrBadMessage, len(body.Rows))
	}
	m := departuresMsg{From: body.From, Departures: make([]crdt.Departure, len(body.Rows))}
	seen := make(map[string]struct{}, len(body.Rows))
	for i, r := range body.Rows {
		if err := checkName("origin", r.Origin); err != nil {
			return departuresMsg{}, err
		}
		if r.Epoch == 0 {
			return departuresMsg{}, fmt.Errorf("%w: departure of %q without epoch", ErrBadMessage, r.Origin)
		}
		if _, dup := seen[r.Origin]; dup {
			return departuresMsg{}, fmt.Errorf("%w: departure of %q twice", ErrBadMessage, r.Origin)
		}
		seen[r.Origin] = struct{}{}
		m.Departures[i] = crdt.Departure{Origin: r.Origin, Epoch: r.Epoch, Left: r.Left, AgeMs: r.AgeMs}
	}
	return m, nil
}

// sendDepartures sends peer to the departures it lacks, if the Store keeps
// them; called before the deltas that answer its digest.
func (n *Node) sendDepartures(to string, peer crdt.Digest) {
	ds, ok := n.store.(DepartureStore)
	if !ok {
		return
	}
	deps := ds.Departures(peer)
	if len(deps) == 0 {
		return
	}
	if len(deps) > maxDigestOrigins {
		deps = deps[:maxDigestOrigins]
	}
	msg, err := encodeDepartures(n.cfg.Name, deps)
	if err != nil {
		n.log.Error().Err(err).Msg("encode departures")
		return
	}
	n.sendReliable(to, msgDepartures, msg)
}

// onDepartures hands a peer's departures to the Store.
func (n *Node) onDepartures(m departuresMsg) {
	if ds, ok := n.store.(DepartureStore); ok && m.From != n.cfg.Name {
		ds.LearnDepartures(m.From, m.Departures)
	}
}
