package sim

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/grapevine-sd/grapevine/sim/simnet"
)

type nodeState int

const (
	stateNone    nodeState = iota // never started
	stateLive                     // running
	statePaused                   // stopped (SIGSTOP)
	stateCrashed                  // dead, may restart
	stateLeft                     // left gracefully, never restarts
)

func (s nodeState) String() string {
	return [...]string{"none", "live", "paused", "crashed", "left"}[s]
}

// host is one simulated machine: it outlives the Node incarnations on it.
type host struct {
	index   int
	name    string
	addr    string
	dataDir string
	skew    atomic.Int64 // clock offset in ns

	// Guarded by cluster.mu.
	node  Node
	state nodeState
}

func (h *host) now() time.Time { return time.Now().Add(time.Duration(h.skew.Load())) }

// cluster owns the network and the nodes of one run.
type cluster struct {
	net     *simnet.Network
	factory Factory
	dir     string

	mu    sync.RWMutex // guards hosts' node and state, and the hosts slice
	hosts []*host
}

func (c *cluster) host(i int) *host {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.hosts[i]
}

// snapshot returns the hosts and states under one lock.
type hostState struct {
	h     *host
	node  Node
	state nodeState
}

func (c *cluster) snapshot() []hostState {
	c.mu.RLock()
	defer c.mu.RUnlock()
	out := make([]hostState, len(c.hosts))
	for i, h := range c.hosts {
		out[i] = hostState{h, h.node, h.state}
	}
	return out
}

func (c *cluster) state(i int) nodeState {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if i < 0 || i >= len(c.hosts) {
		return stateNone
	}
	return c.hosts[i].state
}

// pool returns the indices of hosts in one of the given states.
func (c *cluster) pool(states ...nodeState) []int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	var out []int
	for _, h := range c.hosts {
		for _, s := range states {
			if h.state == s {
				out = append(out, h.index)
				break
			}
		}
	}
	return out
}

func (c *cluster) count(states ...nodeState) int { return len(c.pool(states...)) }

// addHosts creates n hosts (not started).
func (c *cluster) addHosts(n int) ([]int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var idx []int
	for range n {
		i := len(c.hosts)
		h := &host{index: i, name: nodeName(i), addr: simnet.Addr(i), dataDir: filepath.Join(c.dir, nodeName(i))}
		if err := os.MkdirAll(h.dataDir, 0o755); err != nil {
			return nil, fmt.Errorf("sim: data dir: %w", err)
		}
		c.hosts = append(c.hosts, h)
		idx = append(idx, i)
	}
	return idx, nil
}

// seeds returns up to 3 live addresses other than self, lowest index first.
func (c *cluster) seeds(self int) []string {
	c.mu.RLock()
	defer c.mu.RUnlock()
	var out []string
	for _, h := range c.hosts {
		if h.index != self && h.state == stateLive {
			out = append(out, h.addr)
			if len(out) == 3 {
				break
			}
		}
	}
	return out
}

// start starts (or restarts) host i on a fresh transport.
func (c *cluster) start(ctx context.Context, i int) error {
	h := c.host(i)
	tr, err := c.net.Transport(h.addr)
	if err != nil {
		return fmt.Errorf("sim: start %s: %w", h.name, err)
	}
	spec := NodeSpec{
		Name: h.name, Addr: h.addr, Transport: tr, DataDir: h.dataDir,
		Now: h.now, Seeds: c.seeds(i), Cluster: c.count(stateLive, statePaused, stateCrashed) + 1,
	}
	n, err := c.factory(ctx, spec)
	if err != nil {
		_ = tr.Shutdown()
		return fmt.Errorf("sim: start %s: %w", h.name, err)
	}
	c.mu.Lock()
	h.node, h.state = n, stateLive
	c.mu.Unlock()
	return nil
}

// crash kills host i: the network drops everything at once, then the node's
// goroutines are stopped without a leave.
func (c *cluster) crash(i int) error {
	h := c.host(i)
	c.net.Crash(h.addr)
	c.mu.Lock()
	n := h.node
	h.state = stateCrashed
	c.mu.Unlock()
	if n == nil {
		return nil
	}
	if err := n.Close(); err != nil {
		return fmt.Errorf("sim: crash %s: close: %w", h.name, err)
	}
	return nil
}

// leave makes host i leave gracefully and stop.
func (c *cluster) leave(ctx context.Context, i int) error {
	h := c.host(i)
	c.mu.RLock()
	n := h.node
	c.mu.RUnlock()
	err := n.Leave(ctx)
	c.mu.Lock()
	h.state = stateLeft
	c.mu.Unlock()
	return errors.Join(err, n.Close())
}

func (c *cluster) setPaused(i int, paused bool) {
	h := c.host(i)
	c.mu.Lock()
	defer c.mu.Unlock()
	if paused && h.state == stateLive {
		c.net.Pause(h.addr)
		h.state = statePaused
	} else if !paused && h.state == statePaused {
		c.net.Resume(h.addr)
		h.state = stateLive
	}
}

// closeAll stops every node (no leave) and the network.
func (c *cluster) closeAll() error {
	var errs []error
	for _, hs := range c.snapshot() {
		if hs.node != nil && (hs.state == stateLive || hs.state == statePaused) {
			if hs.state == statePaused {
				c.net.Resume(hs.h.addr)
			}
			if err := hs.node.Close(); err != nil {
				errs = append(errs, fmt.Errorf("sim: close %s: %w", hs.h.name, err))
			}
		}
	}
	errs = append(errs, c.net.Close())
	return errors.Join(errs...)
}

// names returns host names of indices.
func (c *cluster) names(idx []int) []string {
	out := make([]string, len(idx))
	for k, i := range idx {
		out[k] = nodeName(i)
	}
	return out
}

func (c *cluster) addrs(idx []int) []string {
	out := make([]string, len(idx))
	for k, i := range idx {
		out[k] = simnet.Addr(i)
	}
	return out
}

// liveNodes returns the live (running, not paused) hosts' nodes by name.
func (c *cluster) liveNodes() map[string]Node {
	out := map[string]Node{}
	for _, hs := range c.snapshot() {
		if hs.state == stateLive {
			out[hs.h.name] = hs.node
		}
	}
	return out
}

// converged reports whether every live node has the same hash, and a detail.
func (c *cluster) converged() (bool, string) {
	hashes := map[uint64][]string{}
	for name, n := range c.liveNodes() {
		h := n.Hash()
		hashes[h] = append(hashes[h], name)
	}
	if len(hashes) <= 1 {
		return true, ""
	}
	var groups []string
	for h, ns := range hashes {
		sort.Strings(ns)
		groups = append(groups, fmt.Sprintf("%016x×%d", h, len(ns)))
	}
	sort.Strings(groups)
	return false, fmt.Sprintf("%d distinct hashes among live nodes: %v", len(hashes), groups)
}

// membersComplete reports whether every live node sees every live node.
func (c *cluster) membersComplete() (bool, string) {
	live := c.liveNodes()
	for name, n := range live {
		if m := n.Members(); m != len(live) {
			return false, fmt.Sprintf("%s sees %d members alive, want %d", name, m, len(live))
		}
	}
	return true, ""
}
