package catalog_test

import (
	"testing"

	"github.com/grapevine-sd/grapevine/catalog"
	"github.com/grapevine-sd/grapevine/catalog/catalogtest"
	"github.com/grapevine-sd/grapevine/crdt"
	"github.com/vmihailenco/msgpack/v5"
)

// FuzzMerge merges deltas built from fuzz input (valid and invalid records,
// windows, epochs) into a catalog holding data: it never panics, and the
// catalog's indexes stay consistent with its crdt state.
func FuzzMerge(f *testing.F) {
	good, _ := msgpack.Marshal([]any{1, "web", "10.0.0.1", 80, []string{"a"}, []string{"k", "v"}, "z", 1, ""})
	f.Add([]byte("x"), uint8(1), uint8(0), uint8(1), good)
	f.Add([]byte("a"), uint8(2), uint8(1), uint8(3), []byte{0xdd, 0xff, 0xff, 0xff, 0xff})
	f.Add([]byte("b"), uint8(1), uint8(2), uint8(2), []byte{})
	f.Fuzz(func(t *testing.T, origin []byte, epoch, from, seq uint8, value []byte) {
		c := catalogtest.New(t, "a", catalogtest.NewClock())
		mustRegister(t, c, catalogtest.Instance("web", "w1", 80))
		c.MemberAlive("x")
		if len(origin) > 0 && origin[0]&1 == 1 {
			c.MemberAlive(string(origin)) // else the origin is unknown: quarantine
		}
		peer := crdt.New("x", 1)
		in := catalogtest.Instance("web", "x1", 80)
		in.Node = "x"
		v, _ := msgpack.Marshal([]any{1, "web", "", 80, nil, nil, "", 1, ""})
		peer.Put("x1", v)
		for _, d := range peer.DeltaSince(nil, 1<<10) {
			if _, err := c.Merge(d); err != nil {
				t.Fatal(err)
			}
		}
		d := crdt.Delta{Origin: string(origin), Epoch: uint64(epoch), Entries: []crdt.Entry{
			{Key: "k1", Seq: uint64(seq), Value: value},
			{Key: "x1", Seq: uint64(seq) + 1, Value: value},
		}}
		if from > 0 {
			d.From, d.To = uint64(from), uint64(seq)+1
		}
		_, _ = c.Merge(d)
		c.Tick()
		if err := c.CheckInvariants(); err != nil {
			t.Fatal(err)
		}
		_ = c.Service("web", catalog.Filter{Health: catalog.HealthAny})
	})
}
