package sim

import (
	"context"
	"encoding/json"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/grapevine-sd/grapevine/crdt"
	"github.com/hashicorp/memberlist"
)

// The fake node is a miniature registry over the simulated network, enough to
// exercise the harness without the real agent: crdt state, full-state push
// gossip to random peers every tick, liveness from direct contact, leases and
// self-preservation like the design's. Bugs can be switched on to check that
// the checker catches them.

type fakeBugs struct {
	resurrect  bool // deregister, then put the instance back a second later
	noExpire   bool // never mark stale, never withdraw
	noPreserve bool // no self-preservation: withdraw after grace whatever happens
}

var fakeBoundsV = Bounds{Detect: 2 * time.Second, LeaseGrace: 3 * time.Second, MassFraction: 0.5, MassMin: 2, StaleMaxAge: time.Hour, Slack: time.Second}

func fakeBounds(int) Bounds { return fakeBoundsV }

// fakeWorld knows every address (a fake's peer list) and the bugs.
type fakeWorld struct {
	mu    sync.Mutex
	addrs []string
	bugs  fakeBugs
}

func (w *fakeWorld) factory(_ context.Context, spec NodeSpec) (Node, error) {
	w.mu.Lock()
	known := false
	for _, a := range w.addrs {
		known = known || a == spec.Addr
	}
	if !known {
		w.addrs = append(w.addrs, spec.Addr)
	}
	w.mu.Unlock()
	return newFake(w, spec)
}

func (w *fakeWorld) peers(self string) []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []string
	for _, a := range w.addrs {
		if a != self {
			out = append(out, a)
		}
	}
	return out
}

type fakeMsg struct {
	From   string
	Leave  bool
	Deltas []crdt.Delta
}

type fakeNode struct {
	w    *fakeWorld
	spec NodeSpec
	tr   memberlist.Transport
	stop chan struct{}
	wg   sync.WaitGroup
	once sync.Once

	mu    sync.Mutex // guards the fields below
	st    *crdt.State
	heard map[string]time.Time // origin → last direct contact
	left  map[string]uint64    // origin → epoch it left in
	regs  map[string]Registration
	rng   *rand.Rand
}

func newFake(w *fakeWorld, spec NodeSpec) (*fakeNode, error) {
	n := &fakeNode{
		w: w, spec: spec, tr: spec.Transport, stop: make(chan struct{}),
		st:    crdt.New(spec.Name, uint64(time.Now().UnixNano())),
		heard: map[string]time.Time{}, left: map[string]uint64{},
		regs: map[string]Registration{},
		rng:  rand.New(rand.NewPCG(uint64(len(spec.Name)), uint64(time.Now().UnixNano()))),
	}
	if b, err := os.ReadFile(filepath.Join(spec.DataDir, "regs.json")); err == nil {
		if err := json.Unmarshal(b, &n.regs); err != nil {
			return nil, err
		}
		for _, r := range n.regs {
			v, _ := json.Marshal(r)
			n.st.Put(r.ID, v)
		}
	}
	n.wg.Go(n.recv)
	n.wg.Go(n.gossip)
	return n, nil
}

func (n *fakeNode) Name() string { return n.spec.Name }

func (n *fakeNode) persist() error {
	b, _ := json.Marshal(n.regs)
	return os.WriteFile(filepath.Join(n.spec.DataDir, "regs.json"), b, 0o644)
}

func (n *fakeNode) put(r Registration) error {
	v, _ := json.Marshal(r)
	n.mu.Lock()
	n.regs[r.ID] = r
	d := n.st.Put(r.ID, v)
	err := n.persist()
	n.mu.Unlock()
	n.push(fakeMsg{Deltas: []crdt.Delta{d}})
	return err
}

func (n *fakeNode) Register(_ context.Context, r Registration) error { return n.put(r) }

func (n *fakeNode) Deregister(_ context.Context, id string) error {
	n.mu.Lock()
	r, had := n.regs[id]
	delete(n.regs, id)
	d, ok := n.st.Delete(id)
	err := n.persist()
	n.mu.Unlock()
	if !ok {
		return errors.New("fake: no such instance")
	}
	n.push(fakeMsg{Deltas: []crdt.Delta{d}})
	if n.w.bugs.resurrect && had {
		n.wg.Go(func() {
			select {
			case <-time.After(time.Second):
				_ = n.put(r)
			case <-n.stop:
			}
		})
	}
	return err
}

func (n *fakeNode) SetHealth(_ context.Context, id, health string) error {
	n.mu.Lock()
	r, ok := n.regs[id]
	n.mu.Unlock()
	if !ok {
		return errors.New("fake: no such instance")
	}
	r.Health = health
	return n.put(r)
}

func (n *fakeNode) Lookup(service string) []Seen {
	n.mu.Lock()
	defer n.mu.Unlock()
	now := time.Now()
	b := fakeBoundsV
	down, others := 0, 0
	for o := range n.st.Origins() {
		if o == n.spec.Name {
			continue
		}
		others++
		if now.Sub(n.heard[o]) > b.Detect {
			down++
		}
	}
	preserve := !n.w.bugs.noPreserve && others > 0 && float64(down)/float64(others) >= b.MassFraction
	var out []Seen
	for origin, e := range n.st.All() {
		var r Registration
		if json.Unmarshal(e.Value, &r) != nil || r.Service != service {
			continue
		}
		x := Seen{ID: r.ID, Node: origin, Health: r.Health}
		if origin != n.spec.Name && !n.w.bugs.noExpire {
			age := now.Sub(n.heard[origin])
			if age > b.Detect {
				x.Stale, x.Age = true, age
				if age > b.Detect+b.LeaseGrace && !preserve {
					continue
				}
			}
		}
		out = append(out, x)
	}
	return out
}

func (n *fakeNode) Hash() uint64 {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.st.Hash()
}

func (n *fakeNode) Members() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	k := 1
	for o, t := range n.heard {
		if o != n.spec.Name && time.Since(t) <= fakeBoundsV.Detect {
			k++
		}
	}
	return k
}

func (n *fakeNode) Leave(context.Context) error {
	for _, p := range n.w.peers(n.spec.Addr) {
		n.send(p, fakeMsg{Leave: true})
	}
	return nil
}

func (n *fakeNode) Close() error {
	n.once.Do(func() {
		close(n.stop)
		n.wg.Wait()
		_ = n.tr.Shutdown()
	})
	return nil
}

func (n *fakeNode) send(addr string, m fakeMsg) {
	m.From = n.spec.Name
	n.mu.Lock()
	if m.Deltas == nil && !m.Leave {
		m.Deltas = n.st.DeltaSince(crdt.Digest{}, 1<<20)
	}
	if m.Leave {
		m.Deltas = []crdt.Delta{{Origin: n.spec.Name, Epoch: n.st.Position(n.spec.Name).Epoch}}
	}
	n.mu.Unlock()
	b, _ := json.Marshal(m)
	_, _ = n.tr.WriteTo(b, addr)
}

// push sends m to 3 random peers.
func (n *fakeNode) push(m fakeMsg) {
	peers := n.w.peers(n.spec.Addr)
	n.mu.Lock()
	n.rng.Shuffle(len(peers), func(i, j int) { peers[i], peers[j] = peers[j], peers[i] })
	n.mu.Unlock()
	for _, p := range peers[:min(3, len(peers))] {
		n.send(p, m)
	}
}

func (n *fakeNode) gossip() {
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-n.stop:
			return
		case <-t.C:
			n.push(fakeMsg{})
		}
	}
}

func (n *fakeNode) recv() {
	for {
		select {
		case <-n.stop:
			return
		case p := <-n.tr.PacketCh():
			var m fakeMsg
			if json.Unmarshal(p.Buf, &m) != nil {
				continue
			}
			n.mu.Lock()
			if m.Leave {
				for _, d := range m.Deltas {
					n.left[m.From] = d.Epoch
				}
				n.st.Reap(m.From)
				delete(n.heard, m.From)
				n.mu.Unlock()
				continue
			}
			if e, ok := n.left[m.From]; !ok || n.st.Position(m.From).Epoch > e {
				n.heard[m.From] = time.Now()
			}
			for _, d := range m.Deltas {
				if e, ok := n.left[d.Origin]; ok && d.Epoch <= e {
					continue
				}
				_, _ = n.st.Merge(d)
			}
			n.mu.Unlock()
		}
	}
}
