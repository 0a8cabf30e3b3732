package dnsserver

import (
	"hash/maphash"
	"sync"
)

// cache maps a lowercase name in wire form plus the query type to its
// precomputed answer. It is sharded to keep lock contention low and bounded:
// a full shard drops an arbitrary entry for a new one, so a flood of random
// names costs rebuilds, never memory.
type cache struct {
	seed   maphash.Seed
	shards [cacheShards]cacheShard
	max    int // entries per shard
}

const cacheShards = 16

type cacheShard struct {
	mu sync.RWMutex // guards m
	m  map[string]*entry
	_  [40]byte // keep shards on their own cache lines
}

func newCache(entries int) *cache {
	c := &cache{seed: maphash.MakeSeed(), max: max(1, entries/cacheShards)}
	for i := range c.shards {
		c.shards[i].m = make(map[string]*entry)
	}
	return c
}

func (c *cache) shard(key []byte) *cacheShard {
	return &c.shards[maphash.Bytes(c.seed, key)%cacheShards]
}

// get returns the entry of key or nil. It does not allocate.
func (c *cache) get(key []byte) *entry {
	sh := c.shard(key)
	sh.mu.RLock()
	e := sh.m[string(key)]
	sh.mu.RUnlock()
	return e
}

func (c *cache) put(key []byte, e *entry) {
	sh := c.shard(key)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if _, ok := sh.m[string(key)]; !ok && len(sh.m) >= c.max {
		for k := range sh.m {
			delete(sh.m, k)
			break
		}
	}
	sh.m[string(key)] = e
}

func (c *cache) len() int {
	n := 0
	for i := range c.shards {
		sh := &c.shards[i]
		sh.mu.RLock()
		n += len(sh.m)
		sh.mu.RUnlock()
	}
	return n
}
