package densemap

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"testing"
)

// TestAgainstMap runs random operations on a Map and a Go map and compares
// them after each, including with a hash that collides a lot (long probe
// runs that deletes must shift back correctly).
func TestAgainstMap(t *testing.T) {
	hashes := map[string]func(string) uint64{
		"string":  String,
		"collide": func(s string) uint64 { return String(s) % 7 },
	}
	for name, hash := range hashes {
		for seed := range uint64(20) {
			t.Run(fmt.Sprintf("%s/seed=%d", name, seed), func(t *testing.T) {
				r := rand.New(rand.NewPCG(seed, 1))
				m := New[string, int](hash)
				want := map[string]int{}
				keys := 1 + r.IntN(300)
				for op := range 3000 {
					k := fmt.Sprint("k", r.IntN(keys))
					switch r.IntN(4) {
					case 0, 1:
						m.Set(k, op)
						want[k] = op
					case 2:
						v, ok := m.Delete(k)
						wv, wok := want[k]
						if ok != wok || v != wv {
							t.Fatalf("op %d: Delete(%s) = %d, %v, want %d, %v", op, k, v, ok, wv, wok)
						}
						delete(want, k)
					case 3:
						n := m.DeleteFunc(func(k string, v int) bool { return v%13 == 0 })
						wn := 0
						for k, v := range want {
							if v%13 == 0 {
								delete(want, k)
								wn++
							}
						}
						if n != wn {
							t.Fatalf("op %d: DeleteFunc deleted %d, want %d", op, n, wn)
						}
					}
					check(t, &m, want)
				}
			})
		}
	}
}

func check(t *testing.T, m *Map[string, int], want map[string]int) {
	t.Helper()
	if m.Len() != len(want) {
		t.Fatalf("Len %d, want %d", m.Len(), len(want))
	}
	for k, v := range want {
		if got, ok := m.Get(k); !ok || got != v {
			t.Fatalf("Get(%s) = %d, %v, want %d", k, got, ok, v)
		}
		if p := m.Ptr(k); p == nil || *p != v {
			t.Fatalf("Ptr(%s) wrong", k)
		}
	}
	seen := map[string]bool{}
	for _, e := range m.Entries() {
		if seen[e.Key] || want[e.Key] != e.Val {
			t.Fatalf("entry %s=%d duplicated or wrong", e.Key, e.Val)
		}
		seen[e.Key] = true
	}
	if _, ok := m.Get("absent"); ok {
		t.Fatal("absent key found")
	}
}

// TestShrinks: a map emptied down gives its memory back.
func TestShrinks(t *testing.T) {
	m := New[string, int](String)
	for i := range 10000 {
		m.Set(fmt.Sprint(i), i)
	}
	for i := range 9990 {
		m.Delete(fmt.Sprint(i))
	}
	if c, n := cap(m.ents), m.slots(); c > 64 || n > 64 {
		t.Errorf("after deleting all but 10 of 10000: cap %d, index %d", c, n)
	}
	want := map[string]int{}
	for i := 9990; i < 10000; i++ {
		want[fmt.Sprint(i)] = i
	}
	check(t, &m, want)
	m.Clear()
	check(t, &m, map[string]int{})
}

// BenchmarkMemory reports the heap per entry of a Map and of a Go map holding
// the same 2,000 entries (a string key and a 32-byte value).
func BenchmarkMemory(b *testing.B) {
	type val [4]uint64 // 32 bytes
	keys := make([]string, 2000)
	for i := range keys {
		keys[i] = fmt.Sprint("key-", i)
	}
	heap := func() uint64 {
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		return ms.HeapAlloc
	}
	for range b.N {
		h0 := heap()
		m := New[string, val](String)
		for _, k := range keys {
			m.Set(k, val{})
		}
		h1 := heap()
		gm := map[string]val{}
		for _, k := range keys {
			gm[k] = val{}
		}
		h2 := heap()
		b.ReportMetric(float64(h1-h0)/float64(len(keys)), "densemap-B/entry")
		b.ReportMetric(float64(h2-h1)/float64(len(keys)), "gomap-B/entry")
		runtime.KeepAlive(m)
		runtime.KeepAlive(gm)
	}
}

// TestWideIndex: past 49,152 entries the index switches to 32-bit positions,
// and back once the map shrinks.
func TestWideIndex(t *testing.T) {
	m := New[string, int](String)
	want := map[string]int{}
	for i := range 70000 {
		m.Set(fmt.Sprint(i), i)
		want[fmt.Sprint(i)] = i
	}
	if m.idx32 == nil || m.idx16 != nil {
		t.Fatalf("70000 entries on a 16-bit index (%d slots)", m.slots())
	}
	check(t, &m, want)
	for i := range 69000 {
		m.Delete(fmt.Sprint(i))
		delete(want, fmt.Sprint(i))
	}
	if m.idx16 == nil {
		t.Fatalf("1000 entries on a 32-bit index of %d slots", m.slots())
	}
	check(t, &m, want)
}
