package sim

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
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
	index    int
	name     string
	dataDir  string
	saveDir  string       // saved copies of dataDir, one directory per name
	skew     atomic.Int64 // clock offset in ns (wall and monotonic)
	wallStep atomic.Int64 // wall-clock steps in ns (wall only)
	slow     atomic.Int64 // per-message processing delay in ns

	mu    *sync.RWMutex // the cluster's: guards node, state, addr, agent
	node  Node
	state nodeState
	addr  string
	agent *AgentSettings // the node's own agent settings (over the scenario's)
}

// now is the host's clock: the run's clock, offset by the skew, with the
// wall reading stepped by the clock steps (stepWall keeps the monotonic
// reading).
func (h *host) now() time.Time {
	return stepWall(time.Now().Add(time.Duration(h.skew.Load())), time.Duration(h.wallStep.Load()))
}

func (h *host) address() string {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return h.addr
}

// current is the host's running node (nil before the first start).
func (h *host) current() Node {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return h.node
}

func (h *host) setAgent(a *AgentSettings) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.agent = a
}

// wipe empties the data directory.
func (h *host) wipe() error {
	if err := os.RemoveAll(h.dataDir); err != nil {
		return fmt.Errorf("sim: wipe %s: %w", h.name, err)
	}
	if err := os.MkdirAll(h.dataDir, 0o755); err != nil {
		return fmt.Errorf("sim: wipe %s: %w", h.name, err)
	}
	return nil
}

// save copies the data directory aside as name and returns the bytes copied.
func (h *host) save(name string) (int64, error) {
	dst := filepath.Join(h.saveDir, name)
	if err := os.RemoveAll(dst); err != nil {
		return 0, fmt.Errorf("sim: save %s: %w", h.name, err)
	}
	n, err := copyDir(dst, h.dataDir)
	if err != nil {
		return 0, fmt.Errorf("sim: save %s: %w", h.name, err)
	}
	return n, nil
}

func (h *host) hasSaved(name string) bool {
	_, err := os.Stat(filepath.Join(h.saveDir, name))
	return err == nil
}

// restore replaces the data directory by the copy saved as name.
func (h *host) restore(name string) error {
	if err := h.wipe(); err != nil {
		return err
	}
	if _, err := copyDir(h.dataDir, filepath.Join(h.saveDir, name)); err != nil {
		return fmt.Errorf("sim: restore %s: %w", h.name, err)
	}
	return nil
}

// copyDir copies the regular files of the tree src into dst (created) and
// returns the bytes copied.
func copyDir(dst, src string) (int64, error) {
	var total int64
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, p)
		if err != nil {
			return err
		}
		target := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		if !d.Type().IsRegular() {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil // removed meanwhile by the running node
			}
			return err
		}
		total += int64(len(b))
		return os.WriteFile(target, b, 0o644)
	})
	return total, err
}

// cluster owns the network and the nodes of one run.
type cluster struct {
	net     *simnet.Network
	factory Factory
	dir     string
	agent   *AgentSettings // the scenario's agent settings
	events  func(MemberEvent)
	moved   int // addresses handed out by moveHost

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
func (c *cluster) addHosts(n int, agent *AgentSettings) ([]int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var idx []int
	for range n {
		i := len(c.hosts)
		h := &host{
			index: i, name: nodeName(i), addr: simnet.Addr(i), agent: agent, mu: &c.mu,
			dataDir: filepath.Join(c.dir, "nodes", nodeName(i)), saveDir: filepath.Join(c.dir, "saved", nodeName(i)),
		}
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
	c.mu.RLock()
	addr, agent := h.addr, h.agent
	c.mu.RUnlock()
	tr, err := c.net.Transport(addr)
	if err != nil {
		return fmt.Errorf("sim: start %s: %w", h.name, err)
	}
	c.net.SetSlow(addr, time.Duration(h.slow.Load()))
	var layers []*AgentSettings
	for _, a := range []*AgentSettings{c.agent, agent} {
		if a != nil {
			layers = append(layers, a)
		}
	}
	spec := NodeSpec{
		Name: h.name, Addr: addr, Transport: tr, DataDir: h.dataDir, Agent: layers, Events: c.events,
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
	c.net.Crash(h.address())
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
	c.mu.RLock()
	defer c.mu.RUnlock()
	out := make([]string, len(idx))
	for k, i := range idx {
		out[k] = c.hosts[i].addr
	}
	return out
}

// moveAddrBase is where moved hosts' addresses start: above every index a
// scenario can create.
const moveAddrBase = 1 << 20

// moveHost gives the (stopped) host i a new address; its old one stays
// crashed. Partition groups, cuts and per-link settings name addresses, so
// they do not follow the host.
func (c *cluster) moveHost(i int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.hosts[i].addr = simnet.Addr(moveAddrBase + c.moved)
	c.moved++
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
