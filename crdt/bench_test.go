package crdt

import (
	"fmt"
	"runtime"
	"testing"
)

// replicaOf builds a replica holding origins×perOrigin entries of ~64-byte values.
func replicaOf(origins, perOrigin int) *State {
	r := New("r", 1)
	val := make([]byte, 64)
	for i := range origins {
		o := New(fmt.Sprintf("node-%04d", i), 1)
		for j := range perOrigin {
			o.Put(fmt.Sprintf("svc-%d-%d", i, j), val)
		}
		for _, d := range o.DeltaSince(nil, 1<<20) {
			if _, err := r.Merge(d); err != nil {
				panic(err)
			}
		}
	}
	return r
}

// BenchmarkMerge1Into100k merges a 1-entry delta (the eager-push case) into a
// replica holding 100,000 entries.
func BenchmarkMerge1Into100k(b *testing.B) {
	r := replicaOf(1000, 100)
	hot := New("hot", 1)
	val := make([]byte, 64)
	ds := make([]Delta, b.N)
	for i := range ds {
		ds[i] = hot.Put(fmt.Sprintf("k%d", i%100), val)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		if _, err := r.Merge(ds[i]); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDeltaSince: what a peer that missed the last 10 changes of one origin
// among 1,000 (100k entries) is sent.
func BenchmarkDeltaSince(b *testing.B) {
	r := replicaOf(1000, 100)
	peer := r.Digest()
	hot := New("hot", 1)
	for i := range 10 {
		r.Merge(hot.Put(fmt.Sprint(i), []byte("x")))
	}
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if ds := r.DeltaSince(peer, 64<<10); len(ds) != 1 {
			b.Fatalf("%d deltas", len(ds))
		}
	}
}

// BenchmarkDeltaSinceSnapshot: a whole 100-entry origin for a new peer.
func BenchmarkDeltaSinceSnapshot(b *testing.B) {
	r := replicaOf(1, 100)
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		r.DeltaSinceOrigin("node-0000", Position{}, 64<<10)
	}
}

func BenchmarkDigest1000Origins(b *testing.B) {
	r := replicaOf(1000, 1)
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if len(r.Digest()) != 1001 {
			b.Fatal("digest size")
		}
	}
}

// BenchmarkMemoryPerEntry reports the heap bytes a replica spends per entry,
// beyond the 64-byte value itself (which is shared with the delta it came in).
func BenchmarkMemoryPerEntry(b *testing.B) {
	for range b.N {
		var m0, m1 runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&m0)
		r := replicaOf(100, 1000)
		runtime.GC()
		runtime.ReadMemStats(&m1)
		b.ReportMetric(float64(m1.HeapAlloc-m0.HeapAlloc)/float64(r.Len()), "B/entry")
		runtime.KeepAlive(r)
	}
}
