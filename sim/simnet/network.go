package simnet

import (
	"fmt"
	"math/rand/v2"
	"net"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/hashicorp/memberlist"
	"github.com/rs/zerolog"
)

// Network is the simulated network. Create it with New, get one Transport per
// node with Transport, inject faults at any time, and Close it at the end.
type Network struct {
	cfg Config
	log zerolog.Logger

	mu sync.Mutex
	// Guarded by mu:
	rng         *rand.Rand             // the one random source
	nodes       map[string]*node       // by normalized address; never removed (stats survive restarts)
	defaultLink LinkConfig             // links without their own config
	links       map[link]LinkConfig    // per directed link
	cuts        map[link]struct{}      // one-way cuts
	flapCuts    map[link]int           // directed links cut by flaps (how many flaps cut each)
	flaps       map[*flapper]struct{}  // running flaps, stopped by Heal and Close
	groups      map[string]int         // partition group by address; nil when not partitioned
	inflight    map[*delivery]struct{} // scheduled packet deliveries, stopped by Close
	streams     map[*pair]struct{}     // open streams, broken by faults
	closed      bool
}

type link struct{ from, to string }

// node is one address; it outlives its transports so that stats accumulate
// across restarts. All fields are guarded by Network.mu.
type node struct {
	addr    string
	udp     *net.UDPAddr // memberlist.Packet.From of its packets
	tcp     *net.TCPAddr // stream endpoint address
	t       *Transport   // current incarnation, nil before the first and after Shutdown
	epoch   uint64       // bumped by Crash and by each new Transport
	crashed bool
	paused  bool
	held    []heldPacket  // inbound packets queued while paused
	heldSt  []*conn       // inbound streams (server ends) queued while paused
	bw      int64         // egress cap in bytes/s, 0 = unlimited
	bwFree  time.Time     // when the egress link is next idle
	slow    time.Duration // processing time per inbound packet (SetSlow), 0 = none
	busy    time.Time     // when the slow node is done with its queued packets
	bridge  bool          // reaches every partition group (Bridge)
	stats   Stats
}

type heldPacket struct {
	src *node
	p   *memberlist.Packet
}

// live reports whether the node has a transport that can receive.
func (nd *node) live() bool {
	return nd.t != nil && !nd.t.closed && !nd.crashed
}

// Stats counts one node's traffic. Packets: Sent + Duplicated = (Received at the
// receivers) + Lost + in flight + held for paused receivers. Stats of an address accumulate across restarts.
type Stats struct {
	PacketsSent     uint64 // packets this node passed to WriteTo (lost ones included)
	BytesSent       uint64 // their payload bytes
	PacketsReceived uint64 // packets put into this node's inbox (duplicates included)
	BytesReceived   uint64 // their payload bytes
	// PacketsLost counts copies of this node's packets that were never delivered,
	// for any reason: link loss, partition or cut (at send or in flight), sender
	// crashed or paused, receiver down or restarted, bandwidth tail drop, full
	// inbox or pause queue at the receiver.
	PacketsLost       uint64
	PacketsDuplicated uint64 // extra copies the network made of this node's packets
	InboxDrops        uint64 // packets to this node lost to its full inbox or pause queue
	BandwidthDrops    uint64 // packets of this node tail-dropped by its egress cap

	StreamDials         uint64 // stream dials by this node
	StreamDialsFailed   uint64 // of which failed
	StreamsAccepted     uint64 // streams handed to this node's StreamCh
	StreamBytesSent     uint64 // bytes written by this node on streams
	StreamBytesReceived uint64 // bytes written to this node on streams
	StreamResets        uint64 // streams of this node reset by its writes (LinkConfig.StreamReset)
	SlowDelayed         uint64 // inbound packets that waited for this slow node (SetSlow)
}

func (s *Stats) add(o Stats) {
	s.PacketsSent += o.PacketsSent
	s.BytesSent += o.BytesSent
	s.PacketsReceived += o.PacketsReceived
	s.BytesReceived += o.BytesReceived
	s.PacketsLost += o.PacketsLost
	s.PacketsDuplicated += o.PacketsDuplicated
	s.InboxDrops += o.InboxDrops
	s.BandwidthDrops += o.BandwidthDrops
	s.StreamDials += o.StreamDials
	s.StreamDialsFailed += o.StreamDialsFailed
	s.StreamsAccepted += o.StreamsAccepted
	s.StreamBytesSent += o.StreamBytesSent
	s.StreamBytesReceived += o.StreamBytesReceived
	s.StreamResets += o.StreamResets
	s.SlowDelayed += o.SlowDelayed
}

// New returns an empty network, or an error wrapping ErrInvalidConfig when cfg
// does not pass Validate.
func New(cfg Config) (*Network, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Network{
		cfg:         cfg,
		log:         cfg.Logger.With().Str("component", "simnet").Logger(),
		rng:         rand.New(rand.NewPCG(cfg.Seed, cfg.Seed^0x9e3779b97f4a7c15)),
		nodes:       make(map[string]*node),
		defaultLink: cfg.DefaultLink,
		links:       make(map[link]LinkConfig),
		cuts:        make(map[link]struct{}),
		flapCuts:    make(map[link]int),
		flaps:       make(map[*flapper]struct{}),
		inflight:    make(map[*delivery]struct{}),
		streams:     make(map[*pair]struct{}),
	}, nil
}

// Addr returns a distinct address for node index i (0 ≤ i < 2^24):
// "10.a.b.c:7946", convenient for simulations.
func Addr(i int) string {
	i++ // skip 10.0.0.0
	return fmt.Sprintf("10.%d.%d.%d:7946", (i>>16)&0xff, (i>>8)&0xff, i&0xff)
}

// parseAddr normalizes "ip:port".
func parseAddr(s string) (key string, ip net.IP, port int, err error) {
	host, ps, err := net.SplitHostPort(s)
	if err != nil {
		return "", nil, 0, fmt.Errorf("%w: %q: %v", ErrBadAddr, s, err)
	}
	ip = net.ParseIP(host)
	port, perr := strconv.Atoi(ps)
	if ip == nil || perr != nil || port < 1 || port > 65535 {
		return "", nil, 0, fmt.Errorf("%w: %q", ErrBadAddr, s)
	}
	if v4 := ip.To4(); v4 != nil {
		ip = v4
	}
	return net.JoinHostPort(ip.String(), strconv.Itoa(port)), ip, port, nil
}

// key normalizes an address for the fault tables; an unparsable one is kept as
// is (it then matches no node).
func key(s string) string {
	if k, _, _, err := parseAddr(s); err == nil {
		return k
	}
	return s
}

// lookup finds the node of an address, or nil. Caller holds mu.
func (n *Network) lookup(addr string) *node {
	if nd, ok := n.nodes[addr]; ok {
		return nd
	}
	if k, _, _, err := parseAddr(addr); err == nil {
		return n.nodes[k]
	}
	return nil
}

// Transport returns a new transport bound to addr ("ip:port", literal IP). The
// address must be free: never used, its previous transport shut down, or crashed
// (a restart: the crashed transport is shut down and the new one starts with
// empty queues, not paused, and receives nothing sent to the old one).
func (n *Network) Transport(addr string) (*Transport, error) {
	k, ip, port, err := parseAddr(addr)
	if err != nil {
		return nil, err
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed {
		return nil, ErrClosed
	}
	nd := n.nodes[k]
	if nd == nil {
		nd = &node{addr: k, bw: n.cfg.Bandwidth}
		nd.udp, nd.tcp = udpTCP(ip, port)
		n.nodes[k] = nd
	}
	if nd.t != nil && !nd.t.closed {
		if !nd.crashed {
			return nil, fmt.Errorf("%w: %s", ErrAddrInUse, k)
		}
		n.shutdownLocked(nd.t)
	}
	nd.epoch++
	nd.crashed, nd.paused = false, false
	nd.held, nd.heldSt = nil, nil
	t := &Transport{
		nw:       n,
		n:        nd,
		ip:       ip,
		port:     port,
		packetCh: make(chan *memberlist.Packet, n.cfg.InboxSize),
		streamCh: make(chan net.Conn, n.cfg.StreamBacklog),
		done:     make(chan struct{}),
	}
	nd.t = t
	n.log.Debug().Str("addr", k).Uint64("epoch", nd.epoch).Msg("transport started")
	return t, nil
}

// shutdownLocked stops t. Caller holds mu.
func (n *Network) shutdownLocked(t *Transport) {
	if t.closed {
		return
	}
	t.closed = true
	close(t.done)
	nd := t.n
	if nd.t == t {
		nd.held, nd.heldSt = nil, nil
		n.breakStreamsLocked(func(p *pair) bool { return p.a == nd || p.b == nd })
	}
}

// Close shuts down every transport, drops every packet in flight and breaks
// every stream. Idempotent.
func (n *Network) Close() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed {
		return nil
	}
	n.closed = true
	n.stopFlapsLocked()
	for _, nd := range n.nodes {
		if nd.t != nil {
			n.shutdownLocked(nd.t)
		}
	}
	for d := range n.inflight {
		d.timer.Stop()
	}
	clear(n.inflight)
	n.breakStreamsLocked(func(*pair) bool { return true })
	return nil
}

// Nodes returns the addresses the network has seen, sorted.
func (n *Network) Nodes() []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	out := make([]string, 0, len(n.nodes))
	for k := range n.nodes {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// Stats returns the counters of addr (zero for an unknown address).
func (n *Network) Stats(addr string) Stats {
	n.mu.Lock()
	defer n.mu.Unlock()
	if nd := n.lookup(addr); nd != nil {
		return nd.stats
	}
	return Stats{}
}

// Totals returns the sum of all nodes' counters.
func (n *Network) Totals() Stats {
	n.mu.Lock()
	defer n.mu.Unlock()
	var s Stats
	for _, nd := range n.nodes {
		s.add(nd.stats)
	}
	return s
}

// InFlight returns the number of packets scheduled but not yet delivered or lost.
func (n *Network) InFlight() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	return len(n.inflight)
}
