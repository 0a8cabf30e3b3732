package dnsserver

import (
	"context"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Host name resolution, for instances registered with a host name outside
// the served domains. What keeps it safe:
//   - only names taken from catalog records are resolved: a query cannot
//     make the agent look up a name of its choosing;
//   - names inside a served domain never reach the resolver (it may forward
//     them back here: a loop);
//   - every lookup has a timeout, at most hostConcurrency run at once, at most
//     hostMaxEntries names are held, and a query waits at most hostWait for
//     a name never resolved before (later changes are picked up in the
//     background while the previous addresses keep being served);
//   - the results are only ever served as A/AAAA records, never as CNAMEs.
const (
	hostTTL         = 30 * time.Second // re-resolve after (the resolver's TTLs are not visible)
	hostNegativeTTL = 5 * time.Second  // retry a failed name after
	hostTimeout     = 2 * time.Second  // one lookup
	hostWait        = time.Second      // a query waits this long for a new name
	hostMaxEntries  = 1024
	hostMaxAddrs    = 16 // addresses kept per name
	hostConcurrency = 4
	hostIdle        = 10 * time.Minute // a name not asked for this long is dropped
)

type hostCache struct {
	res HostResolver
	now func() time.Time

	mu sync.Mutex // guards m
	m  map[string]*hostEntry

	gen        atomic.Uint64 // bumped when any name's addresses change
	ok, failed atomic.Uint64
	sem        chan struct{}
	ctx        context.Context
	cancel     context.CancelFunc
	wg         sync.WaitGroup
}

type hostEntry struct {
	addrs    []netip.Addr
	expires  time.Time
	lastUsed time.Time
	pending  chan struct{} // closed when the running lookup ends; nil if none
}

func newHostCache(res HostResolver, now func() time.Time) *hostCache {
	h := &hostCache{res: res, now: now, m: map[string]*hostEntry{}, sem: make(chan struct{}, hostConcurrency)}
	h.ctx, h.cancel = context.WithCancel(context.Background())
	return h
}

func (h *hostCache) generation() uint64 { return h.gen.Load() }

// lookup returns the addresses of host and when the caller should ask again
// (unix nanoseconds). A name seen for the first time is waited for up to
// hostWait; an expired one is refreshed in the background.
func (h *hostCache) lookup(host string) ([]netip.Addr, int64) {
	now := h.now()
	h.mu.Lock()
	e := h.m[host]
	if e == nil {
		if len(h.m) >= hostMaxEntries && !h.evictIdle(now) {
			h.mu.Unlock()
			return nil, now.Add(hostNegativeTTL).UnixNano()
		}
		e = &hostEntry{}
		h.m[host] = e
	}
	e.lastUsed = now
	if e.pending == nil && !now.Before(e.expires) {
		h.start(host, e)
	}
	pending, fresh := e.pending, e.expires.IsZero()
	h.mu.Unlock()
	if fresh && pending != nil {
		t := time.NewTimer(hostWait)
		select {
		case <-pending:
		case <-t.C:
		case <-h.ctx.Done():
		}
		t.Stop()
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	exp := e.expires
	if !exp.After(now) { // being refreshed: ask again soon
		exp = now.Add(time.Second)
	}
	return e.addrs, exp.UnixNano()
}

// evictIdle drops names not asked for in hostIdle; mu held.
func (h *hostCache) evictIdle(now time.Time) bool {
	n := len(h.m)
	for k, e := range h.m {
		if e.pending == nil && now.Sub(e.lastUsed) > hostIdle {
			delete(h.m, k)
		}
	}
	return len(h.m) < n
}

// start runs a lookup of host in the background; mu held.
func (h *hostCache) start(host string, e *hostEntry) {
	if h.ctx.Err() != nil {
		return
	}
	done := make(chan struct{})
	e.pending = done
	h.wg.Add(1)
	go func() {
		defer h.wg.Done()
		defer close(done)
		var addrs []netip.Addr
		var err error
		select {
		case h.sem <- struct{}{}:
			ctx, cancel := context.WithTimeout(h.ctx, hostTimeout)
			addrs, err = h.res.LookupNetIP(ctx, "ip", host)
			cancel()
			<-h.sem
		case <-h.ctx.Done():
			err = h.ctx.Err()
		}
		for i := range addrs {
			addrs[i] = addrs[i].Unmap()
		}
		slices.SortFunc(addrs, func(a, b netip.Addr) int { return a.Compare(b) })
		addrs = slices.Compact(addrs)
		if len(addrs) > hostMaxAddrs {
			addrs = addrs[:hostMaxAddrs]
		}
		now := h.now()
		h.mu.Lock()
		defer h.mu.Unlock()
		e.pending = nil
		if err != nil || len(addrs) == 0 {
			h.failed.Add(1)
			e.expires = now.Add(hostNegativeTTL)
			if err != nil && len(e.addrs) > 0 {
				return // keep serving the last good addresses
			}
		} else {
			h.ok.Add(1)
			e.expires = now.Add(hostTTL)
		}
		if !slices.Equal(addrs, e.addrs) {
			e.addrs = addrs
			h.gen.Add(1)
		}
	}()
}

func (h *hostCache) close() {
	h.cancel()
	h.wg.Wait()
}
