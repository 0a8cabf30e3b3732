package simnet

import "time"

// Partition splits the network: nodes in different groups cannot exchange
// packets or streams. Every address not listed (including nodes created later)
// belongs to one more, implicit group, so Partition([]string{a}) isolates a from
// everyone else. An address listed twice belongs to the last group listing it.
// Partition replaces any previous partition (cuts are kept); streams across the
// new boundaries are broken, and packets in flight across them are lost.
func (n *Network) Partition(groups ...[]string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	g := make(map[string]int)
	for i, grp := range groups {
		for _, a := range grp {
			g[key(a)] = i + 1
		}
	}
	n.groups = g
	n.log.Debug().Int("groups", len(groups)+1).Msg("partition")
	n.faultChangedLocked()
}

// Heal removes the partition, every cut (one-way and link) and every bridge
// and stops every flap (Flap), leaving those links up. Link configs, crashes and pauses are kept. memberlist does not re-merge a partition longer
// than about a minute by itself: callers must Join across after Heal.
func (n *Network) Heal() {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.groups = nil
	for _, nd := range n.nodes {
		nd.bridge = false
	}
	clear(n.cuts)
	n.stopFlapsLocked()
	n.log.Debug().Msg("heal")
}

// Cut drops everything from → to (one way): packets, and streams in both
// directions between them (a TCP connection needs both ways).
func (n *Network) Cut(from, to string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.cuts[link{key(from), key(to)}] = struct{}{}
	n.log.Debug().Str("from", key(from)).Str("to", key(to)).Msg("cut")
	n.faultChangedLocked()
}

// Uncut undoes Cut(from, to).
func (n *Network) Uncut(from, to string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	delete(n.cuts, link{key(from), key(to)})
}

// CutLink cuts both directions between a and b.
func (n *Network) CutLink(a, b string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	a, b = key(a), key(b)
	n.cuts[link{a, b}] = struct{}{}
	n.cuts[link{b, a}] = struct{}{}
	n.log.Debug().Str("a", a).Str("b", b).Msg("cut link")
	n.faultChangedLocked()
}

// UncutLink undoes CutLink(a, b).
func (n *Network) UncutLink(a, b string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	a, b = key(a), key(b)
	delete(n.cuts, link{a, b})
	delete(n.cuts, link{b, a})
}

// SetLink sets the config of the directed link from → to, overriding the
// default. A Loss of 1 also breaks streams between them.
func (n *Network) SetLink(from, to string, lc LinkConfig) error {
	if err := lc.Validate(); err != nil {
		return err
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	n.links[link{key(from), key(to)}] = lc
	n.faultChangedLocked()
	return nil
}

// ClearLink returns the directed link from → to to the default config.
func (n *Network) ClearLink(from, to string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	delete(n.links, link{key(from), key(to)})
}

// SetDefaultLink sets the config of every link without its own SetLink.
func (n *Network) SetDefaultLink(lc LinkConfig) error {
	if err := lc.Validate(); err != nil {
		return err
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	n.defaultLink = lc
	n.faultChangedLocked()
	return nil
}

// SetBandwidth sets the egress cap of addr in bytes/s (0 = unlimited). The
// address need not have a transport yet. Negative values mean 0.
func (n *Network) SetBandwidth(addr string, bytesPerSec int64) {
	n.mu.Lock()
	defer n.mu.Unlock()
	nd := n.nodeLocked(addr)
	if nd == nil {
		return
	}
	nd.bw = max(bytesPerSec, 0)
}

// nodeLocked returns the node of addr, creating it (without a transport) if
// needed; nil if addr is unparsable. Caller holds mu.
func (n *Network) nodeLocked(addr string) *node {
	if nd := n.lookup(addr); nd != nil {
		return nd
	}
	k, ip, port, err := parseAddr(addr)
	if err != nil {
		return nil
	}
	nd := &node{addr: k, bw: n.cfg.Bandwidth}
	nd.udp, nd.tcp = udpTCP(ip, port)
	n.nodes[k] = nd
	return nd
}

// Crash kills addr's process: its transport stays (memberlist keeps running
// in-process) but sends nothing and receives nothing, packets in flight to it
// are lost, its streams break and its dials fail. A new Transport on the
// address restarts it. Unknown addresses are ignored.
func (n *Network) Crash(addr string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	nd := n.lookup(addr)
	if nd == nil || nd.crashed {
		return
	}
	nd.crashed = true
	nd.paused = false
	nd.epoch++ // in-flight packets to it are now stale
	for _, h := range nd.held {
		h.src.stats.PacketsLost++
	}
	for _, c := range nd.heldSt {
		c.Conn.Close()
	}
	nd.held, nd.heldSt = nil, nil
	n.log.Debug().Str("addr", nd.addr).Msg("crash")
	n.faultChangedLocked()
}

// Crashed reports whether addr is crashed (and not restarted since).
func (n *Network) Crashed(addr string) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	nd := n.lookup(addr)
	return nd != nil && nd.crashed
}

// Pause stops addr like SIGSTOP: packets to it are queued (up to
// Config.PauseQueue, then lost) and delivered on Resume; streams dialed to it
// are accepted by the "kernel" and handed over on Resume; its own packets are
// dropped and its dials time out, because a stopped process sends nothing.
// Approximation: memberlist's goroutines keep running in-process, so the paused
// node still runs timers and may mark peers suspect (its messages saying so are
// dropped until Resume). Open streams are kept.
func (n *Network) Pause(addr string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if nd := n.lookup(addr); nd != nil && !nd.crashed {
		nd.paused = true
		n.log.Debug().Str("addr", nd.addr).Msg("pause")
	}
}

// Resume undoes Pause: queued packets go into the inbox in arrival order (with
// fresh timestamps; overflow is lost) and queued streams into the backlog.
func (n *Network) Resume(addr string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	nd := n.lookup(addr)
	if nd == nil || !nd.paused {
		return
	}
	nd.paused = false
	held, heldSt := nd.held, nd.heldSt
	nd.held, nd.heldSt = nil, nil
	n.log.Debug().Str("addr", nd.addr).Int("packets", len(held)).Int("streams", len(heldSt)).Msg("resume")
	if !nd.live() {
		return
	}
	now := time.Now()
	for _, h := range held {
		h.p.Timestamp = now
		n.pushLocked(h.src, nd, h.p)
	}
	for _, c := range heldSt {
		n.acceptLocked(nd, c)
	}
}

// Paused reports whether addr is paused.
func (n *Network) Paused(addr string) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	nd := n.lookup(addr)
	return nd != nil && nd.paused
}

// Reachable reports whether a packet from → to would pass the partition, the
// cuts and the flaps right now (loss and node state aside).
func (n *Network) Reachable(from, to string) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.reachableLocked(key(from), key(to))
}

// reachableLocked: partition, cuts and flaps only. Caller holds mu.
func (n *Network) reachableLocked(from, to string) bool {
	if n.groups != nil && n.groups[from] != n.groups[to] && !n.bridgeLocked(from) && !n.bridgeLocked(to) {
		return false
	}
	l := link{from, to}
	if _, cut := n.cuts[l]; cut {
		return false
	}
	return n.flapCuts[l] == 0
}

// linkLocked returns the config of from → to. Caller holds mu.
func (n *Network) linkLocked(from, to string) LinkConfig {
	if lc, ok := n.links[link{from, to}]; ok {
		return lc
	}
	return n.defaultLink
}

// streamOKLocked reports whether a stream between a and b can carry traffic.
func (n *Network) streamOKLocked(a, b *node) bool {
	return !a.crashed && !b.crashed && n.pathOKLocked(a, b)
}

// pathOKLocked reports whether the network (partition, cuts, Loss=1 links)
// lets a stream between a and b through, whatever the nodes' state.
func (n *Network) pathOKLocked(a, b *node) bool {
	return n.reachableLocked(a.addr, b.addr) && n.reachableLocked(b.addr, a.addr) &&
		n.linkLocked(a.addr, b.addr).Loss < 1 && n.linkLocked(b.addr, a.addr).Loss < 1
}

// faultChangedLocked breaks the streams the current faults no longer carry.
func (n *Network) faultChangedLocked() {
	n.breakStreamsLocked(func(p *pair) bool { return !n.streamOKLocked(p.a, p.b) })
}

// Bridge makes addr a bridge (on) or not: a bridge reaches every partition
// group and every group reaches it, while the groups still cannot reach each
// other (cuts and flaps still apply). Heal ends every bridge.
func (n *Network) Bridge(addr string, on bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if nd := n.nodeLocked(addr); nd != nil {
		nd.bridge = on
		n.faultChangedLocked()
	}
}

func (n *Network) bridgeLocked(addr string) bool {
	nd := n.nodes[addr]
	return nd != nil && nd.bridge
}

// SetSlow makes addr a slow node: it takes perMessage to handle each inbound
// packet, one at a time, so packets arriving faster queue up (each is
// delivered once those before it are handled), and each stream write to it
// waits perMessage. 0 makes it normal. It models a starved process, not a
// slow link: the node's own timers are not delayed.
func (n *Network) SetSlow(addr string, perMessage time.Duration) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if nd := n.nodeLocked(addr); nd != nil {
		nd.slow = max(perMessage, 0)
	}
}
