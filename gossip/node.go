package gossip

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/grapevine-sd/grapevine/crdt"
	"github.com/hashicorp/memberlist"
	"github.com/rs/zerolog"
)

// ErrClosed is returned by Node methods called after Close.
var ErrClosed = errors.New("gossip: node closed")

// Store is what gossip needs from the replicated catalog. Implementations are
// safe for concurrent use; calls may come from memberlist's goroutines and must
// not block on network I/O.
type Store interface {
	Merge(d crdt.Delta) (crdt.MergeResult, error) // apply a peer's delta
	Digest() crdt.Digest
	DeltaSince(peer crdt.Digest, budget int) []crdt.Delta
	DeltaSinceOrigin(origin string, have crdt.Position, budget int) []crdt.Delta
}

const (
	// packetOverhead is what memberlist and its keyring may add around a user
	// message on the packet path: message type, label, encryption (version,
	// nonce, tag), compound framing. Generous on purpose.
	packetOverhead = 64
	// reliableQueue bounds the reliable sends waiting for a worker; beyond it a
	// send is dropped and counted (anti-entropy repairs what it would have done).
	reliableQueue = 1024
	// reliableWorkers send reliable messages concurrently, so one slow or dead
	// peer (a dial waiting for its timeout) does not hold up the others.
	reliableWorkers = 4
	// maxBroadcasts caps the piggyback queue; the oldest are pruned first.
	maxBroadcasts = 1024
	// autoFanoutExtra is c in the automatic fanout ⌈ln N⌉ + c: about e^-c of
	// changes miss some node on the eager path.
	autoFanoutExtra = 5
	// leaveIntentTTL is how long a leave message marks its sender's next
	// departure as graceful.
	leaveIntentTTL = time.Minute
	// leaveTimeout is Leave's wait for the leave broadcast when ctx has no deadline.
	leaveTimeout = 5 * time.Second
	// maxLimiterKeys bounds the senders and peers a rate limiter tracks
	// (limit.go); beyond it new names share one bucket.
	maxLimiterKeys = 4096
)

// Node is one member of the gossip cluster: it disseminates the Store's deltas
// and keeps it converged with its peers. Create with New, then Join; stop with
// Leave then Close. All methods are safe for concurrent use.
type Node struct {
	cfg    Config
	store  Store
	log    zerolog.Logger
	ml     atomic.Pointer[memberlist.Memberlist] // nil until memberlist.Create returns
	bq     *memberlist.TransmitLimitedQueue
	budget int // bytes of one user message on the packet path
	events *eventQueue
	stats  stats
	// rejects counts rejections by reason (reject.go).
	rejects rejects
	// senders limits the records merged per sender; replies and replyBytes
	// the anti-entropy answers per peer (limit.go).
	senders, replies, replyBytes *limiter
	meta                         metaState // own metadata, SetMeta (meta.go)
	suspect                      suspicion // failed probes, suspect members (suspect.go)
	// keyring is memberlist's keyring (nil without encryption); it locks
	// itself. keyringMu serializes changes with their persistence.
	keyring   *memberlist.Keyring
	keyringMu sync.Mutex

	sendq chan sendJob
	pushq chan crdt.Delta // local changes for the relay trees (pushLoop)
	// net is the real network's transport (nil on another Transport).
	net *netTransport
	// relayed remembers the relay trees this node passed on (relay.go).
	relayed relayed
	done    chan struct{}
	wg      sync.WaitGroup
	closed  atomic.Bool
	once    sync.Once

	mu         sync.Mutex                 // guards the fields below; never held across I/O or memberlist calls
	lastQueued map[string]*deltaBroadcast // newest queued piggyback broadcast per origin
	repairAt   map[string]time.Time       // last repair request per origin
	departed   map[string]departure       // failed or left members, by name, for rejoin
	rejoinAt   map[string]*rejoinAddr     // pacing of unreachable rejoin candidates, by address
	leaving    map[string]time.Time       // members that announced a graceful leave
	// keyringReqs are this node's keyring requests waiting for answers, by id.
	keyringReqs map[string]*pendingKeyring
	// members is our copy of the live members, kept by the join/leave/update
	// callbacks (which memberlist calls with its node lock held). memberlist's
	// own Members() hands out pointers it later mutates under that lock, so
	// reading their fields outside it races.
	members map[string]Member
	// names are the keys of members, in no order: relayCands walks them for
	// every relay message (a slice, not the map of large values, and kept up
	// to date as members come and go rather than rebuilt).
	names []string
}

type departure struct {
	addr string
	at   time.Time
}

type sendJob struct {
	to   string // node name
	kind msgType
	msg  []byte
}

// New validates cfg, starts memberlist (listening on its transport, alone in a
// cluster of one) and the node's goroutines. The Store's own origin must be
// cfg.Name.
func New(cfg Config, store Store) (*Node, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if store == nil {
		return nil, fmt.Errorf("%w: nil store", ErrInvalidConfig)
	}
	n, mlc := newNode(cfg, store)
	var g *guard
	if mlc.Transport == nil {
		// The real network: memberlist reads through the guard (guard.go).
		nt, err := newNetTransport(mlc.BindAddr, mlc.BindPort)
		if err != nil {
			return nil, err
		}
		n.net = nt
		if mlc.BindPort == 0 {
			mlc.BindPort = nt.port()
			mlc.AdvertisePort = mlc.BindPort
		}
		g = newGuard(nt, cfg.AllowedCIDRs, len(cfg.SecretKeys) == 0, n.reject)
		mlc.Transport = g
	}
	ml, err := memberlist.Create(mlc)
	if err != nil {
		if g != nil {
			g.Shutdown()
		}
		return nil, fmt.Errorf("gossip: start memberlist: %w", err)
	}
	n.ml.Store(ml)
	n.start(func() { n.events.run(n.done) })
	n.start(n.pushLoop)
	for range reliableWorkers {
		n.start(n.sendLoop)
	}
	if cfg.SyncInterval > 0 {
		n.start(n.syncLoop)
	}
	if cfg.RejoinInterval > 0 {
		n.start(n.rejoinLoop)
	}
	n.start(n.metaLoop)
	return n, nil
}

// newNode builds a Node and its memberlist config without starting anything.
func newNode(cfg Config, store Store) (*Node, *memberlist.Config) {
	n := &Node{
		cfg:         cfg,
		store:       store,
		log:         cfg.Logger.With().Str("component", "gossip").Str("node", cfg.Name).Logger(),
		sendq:       make(chan sendJob, reliableQueue),
		pushq:       make(chan crdt.Delta, reliableQueue),
		done:        make(chan struct{}),
		lastQueued:  make(map[string]*deltaBroadcast),
		repairAt:    make(map[string]time.Time),
		departed:    make(map[string]departure),
		rejoinAt:    make(map[string]*rejoinAddr),
		leaving:     make(map[string]time.Time),
		keyringReqs: make(map[string]*pendingKeyring),
		members:     make(map[string]Member),
	}
	mlc := n.memberlistConfig()
	n.suspect.init(mlc)
	n.budget = mlc.UDPBufferSize - packetOverhead
	n.bq = &memberlist.TransmitLimitedQueue{
		NumNodes: func() int {
			if ml := n.ml.Load(); ml != nil {
				return ml.NumMembers()
			}
			return 1
		},
		RetransmitMult: mlc.RetransmitMult,
	}
	n.events = newEventQueue(cfg.Events)
	n.senders = newLimiter(cfg.SenderRecordRate, cfg.SenderRecordBurst, maxLimiterKeys)
	n.replies = newLimiter(cfg.ReplyRate, cfg.ReplyBurst, maxLimiterKeys)
	n.replyBytes = newLimiter(cfg.ReplyBytesRate, cfg.ReplyBytesBurst, maxLimiterKeys)
	n.meta.init(cfg.Meta)
	return n, mlc
}

func (n *Node) memberlistConfig() *memberlist.Config {
	c := memberlist.DefaultLANConfig()
	c.Name = n.cfg.Name
	c.BindAddr, c.BindPort = n.cfg.BindAddr, n.cfg.BindPort
	c.AdvertiseAddr, c.AdvertisePort = n.cfg.AdvertiseAddr, n.cfg.AdvertisePort
	c.PushPullInterval = n.cfg.PushPullInterval
	c.EnableCompression = n.cfg.EnableCompression
	c.Label = n.cfg.Label
	c.CIDRsAllowed = n.cfg.AllowedCIDRs
	c.LogOutput = nil
	c.Logger = newLogBridgeProbes(n.log, func(why Reason, err error) { n.reject(why, err, nil) }, n.probeFailed)
	if n.cfg.Tune != nil {
		n.cfg.Tune(c)
	}
	c.Transport = n.cfg.Transport
	c.DelegateProtocolMin, c.DelegateProtocolMax, c.DelegateProtocolVersion = 0, delegateProtocolSums, 0
	if n.cfg.noSums {
		c.DelegateProtocolMax = 0 // an agent from before sums (tests)
	}
	d := &delegate{n: n}
	c.Delegate, c.Events, c.Ping = d, d, d
	if len(n.cfg.SecretKeys) > 0 {
		// Validate checked the keys, so NewKeyring cannot fail.
		kr, _ := memberlist.NewKeyring(n.cfg.SecretKeys, n.cfg.SecretKeys[0])
		c.Keyring = kr
		n.keyring = kr
		c.GossipVerifyIncoming, c.GossipVerifyOutgoing = true, true
	}
	return c
}

func (n *Node) start(f func()) {
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		f()
	}()
}

// LocalName is the node's name (and the Store's own origin).
func (n *Node) LocalName() string { return n.cfg.Name }

// Join contacts the given addresses ("host:port"), merges membership and state
// with each that answers (a push/pull carrying digests, after which each side
// sends the other what it lacks) and announces the node's own origin. It
// returns how many were contacted. memberlist's join cannot be cancelled: ctx
// is checked before it starts; each address is bounded by memberlist's
// TCPTimeout (10 s on a LAN).
func (n *Node) Join(ctx context.Context, addrs []string) (int, error) {
	got, err := n.PushPull(ctx, addrs)
	if got > 0 {
		n.Announce()
	}
	return got, err
}

// PushPull is Join without the announcement, for a member already in the
// cluster (its origin known): the membership and digest exchange with each of
// addrs that answers, as the rejoin loop makes. It returns how many answered.
// Announcing costs a change's trip to every member (2(N−1) relay messages), so
// a thousand members each exchanging once this way, as the simulator settles
// a start, cost a thousand such trips with Join.
func (n *Node) PushPull(ctx context.Context, addrs []string) (int, error) {
	if n.closed.Load() {
		return 0, ErrClosed
	}
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	got, err := n.ml.Load().Join(addrs)
	if err != nil {
		return got, fmt.Errorf("gossip: join %v: %w", addrs, err)
	}
	return got, nil
}

// Announce publishes the node's own origin from seq 1 (its epoch announcement
// and everything it owns) as Publish does, on the relay trees to every live
// member, so an origin that just started or rebased is known without waiting
// for anti-entropy. Join calls it.
func (n *Node) Announce() {
	for _, d := range n.store.DeltaSinceOrigin(n.cfg.Name, crdt.Position{}, n.cfg.ChunkBytes) {
		n.Publish(d)
	}
}

// Publish disseminates a local change: it is sent at once on relay trees that
// span every live member (relay.go) and queued to ride memberlist's gossip
// (if it fits a packet), where a newer delta of the same origin supersedes
// it. The Store must already hold d. Publish does not block on the network:
// the trees are sent from the node's push goroutine, in order, so the caller
// (an API write waiting to be acknowledged) does not wait for a packet per
// peer, nor for the CPU the peers take to receive them. When that queue is
// full the trees are sent on the caller's goroutine.
func (n *Node) Publish(d crdt.Delta) {
	if n.closed.Load() {
		return
	}
	n.queueBroadcast(d)
	if n.cfg.Fanout < 0 {
		return // eager push disabled: piggyback only
	}
	select {
	case n.pushq <- d:
	default:
		n.relayRoot(d)
	}
}

// pushLoop sends the relay trees of the deltas Publish queued, in order.
func (n *Node) pushLoop() {
	for {
		select {
		case <-n.done:
			return
		case d := <-n.pushq:
			n.relayRoot(d)
		}
	}
}

// Leave announces a graceful departure and waits for it to go out (until ctx's
// deadline, or 5 s). The node keeps answering until Close.
func (n *Node) Leave(ctx context.Context) error {
	if n.closed.Load() {
		return ErrClosed
	}
	timeout := leaveTimeout
	if dl, ok := ctx.Deadline(); ok {
		timeout = time.Until(dl)
	}
	// Tell every live member first, so they report MemberLeave, not MemberFail.
	if msg, err := encodeLeave(n.cfg.Name); err == nil {
		for _, nd := range n.peers(math.MaxInt) {
			n.sendPacket(nd, msgLeave, msg)
		}
	}
	if err := n.ml.Load().Leave(timeout); err != nil {
		return fmt.Errorf("gossip: leave: %w", err)
	}
	return nil
}

// Close stops memberlist and every goroutine of the node and waits for them.
// Without Leave first, peers detect the node as failed. Idempotent.
func (n *Node) Close() error {
	var err error
	n.once.Do(func() {
		n.closed.Store(true)
		if e := n.ml.Load().Shutdown(); e != nil {
			err = fmt.Errorf("gossip: shutdown: %w", e)
		}
		close(n.done)
		n.wg.Wait()
		n.bq.Reset()
	})
	return err
}

// Members returns the live members, the local node included, sorted by name.
// Each is a copy taken when memberlist last reported the member (join or
// update); State is StateSuspect while this node's probes of the member go
// unanswered (suspect.go), else StateAlive.
func (n *Node) Members() []Member {
	now := time.Now()
	n.mu.Lock()
	out := make([]Member, 0, len(n.members))
	for _, m := range n.members {
		m.Meta = slices.Clone(m.Meta)
		if now.Before(m.suspectUntil) {
			m.State = StateSuspect
		}
		out = append(out, m)
	}
	n.mu.Unlock()
	slices.SortFunc(out, func(a, b Member) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// setMember records a live member (nil removes it). Called from memberlist's
// callbacks.
func (n *Node) setMember(name string, m *Member) {
	n.mu.Lock()
	if m == nil {
		if _, ok := n.members[name]; ok {
			delete(n.members, name)
			i := slices.Index(n.names, name)
			n.names = slices.Delete(n.names, i, i+1)
		}
	} else {
		mm := *m
		old, had := n.members[name] // an update keeps what probes measured
		if !had {
			n.names = append(n.names, name)
		}
		mm.RTT, mm.ProbeFailures, mm.LastProbeFailure, mm.suspectUntil = old.RTT, old.ProbeFailures, old.LastProbeFailure, old.suspectUntil
		n.members[name] = mm
	}
	n.mu.Unlock()
}

// probed records the round trip of a successful probe of member name.
func (n *Node) probed(name string, rtt time.Duration) {
	n.stats.rtt.observe(rtt)
	n.mu.Lock()
	if m, ok := n.members[name]; ok {
		m.RTT = rtt
		m.suspectUntil = time.Time{} // it answered
		n.members[name] = m
	}
	n.mu.Unlock()
}

// Addr is the address ("host:port") this node gossips on as its peers see
// it: the advertised address, with the port the kernel chose for port 0.
func (n *Node) Addr() string { return n.ml.Load().LocalNode().Address() }

// NumMembers is the number of live members, the local node included.
func (n *Node) NumMembers() int { return n.ml.Load().NumMembers() }

// fanout is Config.Fanout, or ⌈ln N⌉ + autoFanoutExtra when it is 0.
func (n *Node) fanout() int {
	if n.cfg.Fanout > 0 {
		return n.cfg.Fanout
	}
	members := 1
	if ml := n.ml.Load(); ml != nil {
		members = ml.NumMembers()
	}
	return int(math.Ceil(math.Log(float64(members)))) + autoFanoutExtra
}

// peers returns up to k random live members other than the local node and the
// excluded names.
func (n *Node) peers(k int, exclude ...string) []*memberlist.Node {
	all := n.list()
	cand := all[:0]
outer:
	for _, nd := range all {
		if nd.Name == n.cfg.Name {
			continue
		}
		for _, x := range exclude {
			if nd.Name == x {
				continue outer
			}
		}
		cand = append(cand, nd)
	}
	if len(cand) > k {
		rand.Shuffle(len(cand), func(i, j int) { cand[i], cand[j] = cand[j], cand[i] })
		cand = cand[:k]
	}
	return cand
}

// list returns the live members as send targets: snapshots taken in the
// membership callbacks, not memberlist's own node structs, whose address
// fields memberlist rewrites without our lock on every alive message with a
// newer incarnation (a metadata update, SetMeta), while its Send* functions
// read them.
func (n *Node) list() []*memberlist.Node {
	n.mu.Lock()
	defer n.mu.Unlock()
	out := make([]*memberlist.Node, 0, len(n.members))
	for _, m := range n.members {
		if m.target != nil {
			out = append(out, m.target)
		}
	}
	return out
}

// member finds a live member by name.
func (n *Node) member(name string) *memberlist.Node {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.members[name].target
}

// push sends an encoded msgPush to Fanout random peers other than the origin
// and the node it came from: as a packet when it fits, else reliably.
func (n *Node) push(msg []byte, origin, from string) {
	if n.cfg.Fanout < 0 {
		return
	}
	for _, nd := range n.peers(n.fanout(), origin, from) {
		if len(msg) <= n.budget {
			n.sendPacket(nd, msgPush, msg)
		} else {
			n.sendReliable(nd.Name, msgPush, msg)
		}
	}
}

func (n *Node) sendPacket(to *memberlist.Node, kind msgType, msg []byte) {
	ml := n.ml.Load()
	if ml == nil {
		return
	}
	if err := ml.SendBestEffort(to, msg); err != nil {
		n.stats.dropped.Add(1)
		n.log.Debug().Err(err).Str("peer", to.Name).Msg("send packet")
		return
	}
	n.stats.sent(kind, len(msg))
}

// sendReliable queues msg for the reliable channel; it never blocks.
func (n *Node) sendReliable(to string, kind msgType, msg []byte) {
	select {
	case n.sendq <- sendJob{to: to, kind: kind, msg: msg}:
	default:
		n.stats.dropped.Add(1)
		n.log.Debug().Str("peer", to).Stringer("kind", kind).Msg("reliable queue full, dropped")
	}
}

func (n *Node) sendLoop() {
	for {
		select {
		case <-n.done:
			return
		case j := <-n.sendq:
			nd := n.member(j.to)
			if nd == nil {
				n.stats.dropped.Add(1)
				continue
			}
			if err := n.ml.Load().SendReliable(nd, j.msg); err != nil {
				n.stats.dropped.Add(1)
				n.log.Debug().Err(err).Str("peer", j.to).Stringer("kind", j.kind).Msg("send reliable")
				continue
			}
			n.stats.sent(j.kind, len(j.msg))
		}
	}
}

// sendDeltas sends ds to the named node as msgSync batches of about
// ChunkBytes, and returns the bytes queued.
func (n *Node) sendDeltas(to string, ds []crdt.Delta) (sent int) {
	for len(ds) > 0 {
		size, k := 0, 0
		for k < len(ds) && k < maxBatch {
			s := ds[k].Size()
			if k > 0 && size+s > n.cfg.ChunkBytes {
				break
			}
			size += s
			k++
		}
		msg, err := encodeSync(n.cfg.Name, ds[:k])
		if err != nil {
			n.log.Error().Err(err).Msg("encode sync")
			return sent
		}
		n.sendReliable(to, msgSync, msg)
		sent += len(msg)
		ds = ds[k:]
	}
	return sent
}

// sendDigest sends the local digest to the named node; reply asks for its
// own. It returns the bytes queued.
func (n *Node) sendDigest(to string, reply bool) int {
	msg, err := encodeDigest(n.cfg.Name, reply, n.store.Digest())
	if err != nil {
		n.log.Error().Err(err).Msg("encode digest")
		return 0
	}
	n.sendReliable(to, msgDigest, msg)
	return len(msg)
}

// syncLoop runs an anti-entropy round (syncRound: a sum, or a digest) with
// one random live peer every SyncInterval (jittered by up to a quarter so
// nodes do not synchronize).
func (n *Node) syncLoop() {
	round := 0
	n.every(n.cfg.SyncInterval, func() {
		if ps := n.peers(1); len(ps) == 1 {
			n.syncRound(ps[0], round)
			round++
		}
	})
}

// every calls fn every interval, jittered by up to a quarter so nodes do not
// synchronize, until the node closes.
func (n *Node) every(interval time.Duration, fn func()) {
	for {
		t := time.NewTimer(interval + time.Duration(rand.Int64N(int64(interval)/4+1)))
		select {
		case <-n.done:
			t.Stop()
			return
		case <-t.C:
		}
		fn()
	}
}
