package gossip

import (
	"bytes"
	"maps"
	"slices"
	"testing"

	"github.com/grapevine-sd/grapevine/crdt"
	"github.com/grapevine-sd/grapevine/gossip/gossiptest"
)

// seeds are valid messages of every type plus classic bombs; the files under
// testdata/fuzz hold the same.
func seeds() [][]byte {
	d := sampleDelta()
	return [][]byte{
		must(encodePush("n1", d)),
		must(encodePush("n1", crdt.Delta{Origin: "n2", Epoch: 1, From: 1, To: 1})),
		must(encodeSync("n1", []crdt.Delta{d, {Origin: "n3", Epoch: 2, Entries: []crdt.Entry{{Key: "k", Seq: 4, Value: []byte("v")}}}})),
		must(encodeDigest("n1", true, crdt.Digest{"a": {Epoch: 1, Applied: 3}, "b": {Epoch: 2, Applied: 1}})),
		must(encodeRepair("n1", "a", crdt.Position{Epoch: 1, Applied: 2})),
		{byte(msgPush), ProtocolVersion, 0xdd, 0xff, 0xff, 0xff, 0xff},
		{byte(msgSync), ProtocolVersion, 0xdf, 0xff, 0xff, 0xff, 0xff},
		append([]byte{byte(msgDigest), ProtocolVersion}, bytes.Repeat([]byte{0x91}, 256)...),
		{byte(msgRepair), 2, 0x90},
		must(encodeLeave("n1")),
		must(encodeForceLeave("n1", "n2")),
		must(encodeDepartures("n1", []crdt.Departure{{Origin: "a", Epoch: 7, AgeMs: 5000}, {Origin: "b", Epoch: 1, Left: true}})),
		must(encodeKeyring(keyringMsg{From: "n1", ID: "abc", Op: KeyRemove, Key: bytes.Repeat([]byte{7}, 16)})),
		must(encodeKeyringAck(keyringAckMsg{From: "n2", ID: "abc", Keys: [][]byte{bytes.Repeat([]byte{7}, 16)}})),
		mustRelay("n1", 7, 1<<63, d),
		mustRelay("n1", 0, 0, crdt.Delta{Origin: "a", Epoch: 1, From: 3, To: 3}),
		{byte(msgRelay), ProtocolVersion, 0x94, 0xa1, 'n', 0xcf, 0, 0, 0, 0, 0, 0, 0, 1, 0x01, 0xdd, 0xff, 0xff, 0xff, 0xff},
		must(encodeSum(sumMsg{From: "n1", Sum: 0x0123456789abcdef})),
		must(encodeSum(sumMsg{From: "n1", Sum: 3, Buckets: []uint64{1, 2}})),
		{byte(msgSum), ProtocolVersion, 0x92, 0xa0, 0x00},
		must(encodePart("n1", true, 4, []int{0, 2}, crdt.Digest{"a": {Epoch: 1, Applied: 3}, "b": {Epoch: 2, Applied: 1}, "c": {Epoch: 1}})),
	}
}

func mustRelay(from string, salt, limit uint64, d crdt.Delta) []byte {
	f, err := encodeRelay(from, salt, limit, d)
	if err != nil {
		panic(err)
	}
	return f.msg
}

func fuzzDecoder[T any](f *testing.F, decode func([]byte) (T, error)) {
	for _, s := range seeds() {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		decode(b) // must not panic; errors are expected
	})
}

func FuzzDecodePush(f *testing.F) {
	for _, s := range seeds() {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := decodePush(b)
		if err != nil {
			return
		}
		if err := m.Delta.Validate(); err != nil {
			t.Fatalf("decoded an invalid delta: %v", err)
		}
		// What decodes re-encodes to something that decodes to the same.
		again, err := decodePush(must(encodePush(m.From, m.Delta)))
		if err != nil || again.From != m.From || again.Delta.Origin != m.Delta.Origin || len(again.Delta.Entries) != len(m.Delta.Entries) {
			t.Fatalf("re-encode: %+v, %v; want %+v", again, err, m)
		}
	})
}

func FuzzDecodeSync(f *testing.F) { fuzzDecoder(f, decodeSync) }

func FuzzDecodeRelay(f *testing.F) {
	for _, s := range seeds() {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := decodeRelay(b)
		if err != nil {
			return
		}
		if err := m.Delta.Validate(); err != nil {
			t.Fatalf("decoded an invalid delta: %v", err)
		}
		fr, err := encodeRelay(m.From, m.Salt, m.Limit, m.Delta)
		if err != nil {
			t.Fatal(err)
		}
		again, err := decodeRelay(fr.msg)
		if err != nil || again.From != m.From || again.Salt != m.Salt || again.Limit != m.Limit || len(again.Delta.Entries) != len(m.Delta.Entries) {
			t.Fatalf("re-encode: %+v, %v; want %+v", again, err, m)
		}
	})
}

func FuzzDecodeDepartures(f *testing.F) {
	for _, s := range seeds() {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := decodeDepartures(b)
		if err != nil {
			return
		}
		again, err := decodeDepartures(must(encodeDepartures(m.From, m.Departures)))
		if err != nil || again.From != m.From || len(again.Departures) != len(m.Departures) {
			t.Fatalf("re-encode: %+v, %v; want %+v", again, err, m)
		}
		for i, d := range m.Departures {
			if d.Origin == "" || d.Epoch == 0 || again.Departures[i] != d {
				t.Fatalf("departure %d: %+v, again %+v", i, d, again.Departures[i])
			}
		}
	})
}
func FuzzDecodeDigest(f *testing.F) { fuzzDecoder(f, decodeDigest) }
func FuzzDecodeRepair(f *testing.F) { fuzzDecoder(f, decodeRepair) }
func FuzzDecodeLeave(f *testing.F)  { fuzzDecoder(f, decodeLeave) }

// A decoded sum encodes back to the same message.
func FuzzDecodeSum(f *testing.F) {
	for _, s := range seeds() {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := decodeSum(b)
		if err != nil {
			return
		}
		if m.From == "" {
			t.Fatal("a sum without a sender")
		}
		if again, err := decodeSum(must(encodeSum(m))); err != nil || again.From != m.From || again.Sum != m.Sum || !slices.Equal(again.Buckets, m.Buckets) {
			t.Fatalf("re-encode: %+v, %v; want %+v", again, err, m)
		}
	})
}

// A decoded part digest holds only rows of its buckets and encodes back to
// the same part.
func FuzzDecodePart(f *testing.F) {
	for _, s := range seeds() {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := decodePart(b)
		if err != nil {
			return
		}
		in := bucketSet(m.Buckets, m.Which)
		for o := range m.Digest {
			if !in[crdt.SumBucket(o, m.Buckets)] {
				t.Fatalf("origin %q outside buckets %v of %d", o, m.Which, m.Buckets)
			}
		}
		again, err := decodePart(must(encodePart(m.From, m.Reply, m.Buckets, m.Which, m.Digest)))
		if err != nil || again.From != m.From || again.Reply != m.Reply || again.Buckets != m.Buckets ||
			!slices.Equal(again.Which, m.Which) || !maps.Equal(again.Digest, m.Digest) {
			t.Fatalf("re-encode: %+v, %v; want %+v", again, err, m)
		}
	})
}

// fuzzNode is a Node without memberlist: the delegate entry points work on it
// and any sends they cause are queued (and dropped once the queue is full).
func fuzzNode(t testing.TB) (*Node, *gossiptest.MemStore) {
	st := gossiptest.NewMemStore("self", 1)
	st.Put("web-1", []byte("10.0.0.1:80"))
	st.Merge(crdt.Delta{Origin: "a", Epoch: 1, From: 1, To: 2, Entries: []crdt.Entry{{Key: "k", Seq: 2, Value: []byte("v")}}})
	cfg := DefaultConfig()
	cfg.Name = "self"
	n, _ := newNode(cfg, st)
	return n, st
}

// Garbage at NotifyMsg never panics; what no decoder accepts changes nothing.
func FuzzNotifyMsg(f *testing.F) {
	for _, s := range seeds() {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		n, st := fuzzNode(t)
		h, dg := st.Hash(), st.Digest()
		(&delegate{n: n}).NotifyMsg(b)
		_, e1 := decodePush(b)
		_, e2 := decodeSync(b)
		_, e3 := decodeRelay(b)
		if e1 != nil && e2 != nil && e3 != nil && (st.Hash() != h || !maps.Equal(st.Digest(), dg)) {
			t.Fatalf("undecodable message changed the store")
		}
	})
}

// MergeRemoteState only ever reads a digest: no input changes the store.
func FuzzMergeRemoteState(f *testing.F) {
	for _, s := range seeds() {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		n, st := fuzzNode(t)
		h, dg := st.Hash(), st.Digest()
		d := &delegate{n: n}
		d.MergeRemoteState(b, false)
		d.MergeRemoteState(b, true)
		if st.Hash() != h || !maps.Equal(st.Digest(), dg) {
			t.Fatalf("remote state changed the store")
		}
	})
}

func FuzzDecodeForceLeave(f *testing.F) {
	f.Add(must(encodeForceLeave("n1", "n2")))
	f.Add([]byte{byte(msgForceLeave), ProtocolVersion, 0x92, 0xa0, 0xa0})
	fuzzDecoder(f, decodeForceLeave)
}

func keyringSeeds() [][]byte {
	k := bytes.Repeat([]byte{7}, 32)
	return [][]byte{
		must(encodeKeyring(keyringMsg{From: "n1", ID: "abc", Op: KeyInstall, Key: k})),
		must(encodeKeyring(keyringMsg{From: "n1", ID: "abc", Op: KeyList})),
		must(encodeKeyringAck(keyringAckMsg{From: "n2", ID: "abc", Keys: [][]byte{k, bytes.Repeat([]byte{8}, 16)}})),
		must(encodeKeyringAck(keyringAckMsg{From: "n2", ID: "abc", Error: "gossip: nope"})),
		{byte(msgKeyring), ProtocolVersion, 0x94, 0xa1, 'a', 0xa1, 'b', 0x09, 0xc4, 0x01, 0x00},
		{byte(msgKeyringAck), ProtocolVersion, 0x94, 0xa1, 'a', 0xa1, 'b', 0xa0, 0xdd, 0xff, 0xff, 0xff, 0xff},
	}
}

func FuzzDecodeKeyring(f *testing.F) {
	for _, s := range keyringSeeds() {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := decodeKeyring(b)
		if err != nil {
			return
		}
		again, err := decodeKeyring(must(encodeKeyring(m)))
		if err != nil || again.Op != m.Op || !bytes.Equal(again.Key, m.Key) || again.ID != m.ID {
			t.Fatalf("accepted message does not round-trip: %v", err)
		}
	})
}

func FuzzDecodeKeyringAck(f *testing.F) {
	for _, s := range keyringSeeds() {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		a, err := decodeKeyringAck(b)
		if err != nil {
			return
		}
		if len(a.Keys) > MaxKeys || len(a.Error) > maxKeyringError {
			t.Fatalf("accepted an answer over the bounds")
		}
	})
}
