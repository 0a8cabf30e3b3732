package agent

import (
	"strconv"
	"testing"
)

// TestLookupCacheBounded caches answers of ever new service names and of
// large answers: the cache never holds more than its bounds, and an answer
// replaced under the same name is counted once.
func TestLookupCacheBounded(t *testing.T) {
	h := &httpServer{}
	count := func() (n int) {
		h.cache.Range(func(any, any) bool { n++; return true })
		return n
	}
	for i := range 3 * lookupCacheEntries {
		h.cacheLookup("svc-"+strconv.Itoa(i), &lookupAnswer{at: 1, body: []byte("[]\n")})
		if n := count(); n > lookupCacheEntries {
			t.Fatalf("after %d names: %d entries", i+1, n)
		}
	}
	h.cache.Clear()
	h.cached.entries.Store(0)
	h.cached.bytes.Store(0)
	for i := range 100 {
		h.cacheLookup("web", &lookupAnswer{at: uint64(i), body: make([]byte, 1000)})
	}
	if n, e, b := count(), h.cached.entries.Load(), h.cached.bytes.Load(); n != 1 || e != 1 || b != 1000 {
		t.Errorf("one name replaced 100 times: %d entries, counted %d entries, %d bytes", n, e, b)
	}
	big := make([]byte, lookupCacheBytes/10)
	for i := range 30 {
		h.cacheLookup("big-"+strconv.Itoa(i), &lookupAnswer{at: 1, body: big})
		if b := h.cached.bytes.Load(); b > lookupCacheBytes {
			t.Fatalf("after %d large answers: %d bytes", i+1, b)
		}
	}
	h.cacheLookup("huge", &lookupAnswer{at: 1, body: make([]byte, lookupCacheBytes/4)})
	if _, ok := h.cache.Load("huge"); ok {
		t.Error("an answer above the per-answer bound was cached")
	}
}
