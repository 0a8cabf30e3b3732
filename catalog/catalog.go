package catalog

import (
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/grapevine-sd/grapevine/crdt"
	"github.com/rs/zerolog"
)

// Catalog is the replicated registry of one agent. See the package comment for
// the concurrency contract.
type Catalog struct {
	cfg  Config
	log  zerolog.Logger
	done chan struct{} // closed by Close

	// emu serializes rebases of the own epoch, whose new epoch is persisted
	// without mu. Taken before mu, never under it.
	emu sync.Mutex
	// store writes the registration files; used without mu by the one
	// flusher at a time (localOps.flushing), by load and by Close.
	store regStore

	mu sync.Mutex
	// Guarded by mu:
	state     *crdt.State
	byService map[string]*svcState     // service → its records and what was published of them
	origins   origins                  // numbers of the origins named by the services' records
	lease     *leases                  // membership news and self-preservation (pure table)
	rereap    map[string]bool          // reaped origins whose records peers sent again: reaped next Tick
	compacted time.Time                // last walk of compact
	cooled    time.Time                // last walk of cool
	held      map[string]*held         // quarantine: deltas of origins without membership news
	heldBytes int                      // sum of held[].bytes
	maxEpoch  uint64                   // highest epoch accepted (Config.MaxEpochAhead), set by Tick
	local     map[string]*registration // own registrations by ID, as applied (durable)
	ops       localOps                 // local changes waiting for the disk (groupcommit.go)
	samples   map[string][]sample      // per origin: applied seqs recorded over time, for Compact
	subs      map[*Subscription]struct{}
	intern    interner
	invalid   uint64   // records from the network that failed to decode
	rebases   uint64   // rebases of the own origin
	warnings  []string // persistence problems found at start
	closed    bool

	// Lock-free:
	index   atomic.Uint64 // global change index; bumped once per batch of visible changes
	snap    atomic.Pointer[snapshot]
	publish atomic.Pointer[func(crdt.Delta)]
}

// New validates cfg, loads the data directory (epoch and API registrations) and
// returns a Catalog whose own origin starts a new epoch holding the restored
// registrations. Persistence problems other than an unwritable data directory
// are reported by Warnings, not returned.
func New(cfg Config) (*Catalog, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	c := &Catalog{
		cfg:       cfg,
		log:       cfg.Logger.With().Str("component", "catalog").Logger(),
		done:      make(chan struct{}),
		byService: make(map[string]*svcState),
		origins:   newOrigins(),
		lease:     newLeases(cfg),
		rereap:    make(map[string]bool),
		held:      make(map[string]*held),
		local:     make(map[string]*registration),
		samples:   make(map[string][]sample),
		subs:      make(map[*Subscription]struct{}),
		intern:    newInterner(),
	}
	c.initOps()
	c.store.dir = cfg.DataDir
	c.snap.Store(&snapshot{services: map[string]*slot{}, grown: make(chan struct{})})
	// Indexes start at 1: to clients 0 means "do not block", and a service
	// not seen yet answers with the global index, so a blocking query on it
	// waits until it appears.
	c.index.Store(1)
	ld, err := c.load()
	if err != nil {
		c.store.close()
		return nil, err
	}
	epoch := ld.epoch
	c.state = crdt.New(cfg.Node, epoch)
	c.maxEpoch = c.epochLimit(cfg.Now())
	c.mu.Lock()
	defer c.mu.Unlock()
	b := c.newBatch()
	for _, r := range ld.regs {
		if err := r.inst.Validate(); err != nil {
			c.warn(fmt.Sprintf("registration %q dropped: %v", r.inst.ID, err))
			continue
		}
		c.local[r.inst.ID] = r
		c.putLocal(b, r)
	}
	c.commit(b)
	c.log.Info().Uint64("epoch", epoch).Int("registrations", len(c.local)).Msg("catalog started")
	return c, nil
}

// Close stops waiters and subscribers; later writes return ErrClosed. Writes
// in progress finish (they are durable when they return nil); then the
// registrations log is folded into the snapshot. Lookups keep working. Close
// is idempotent.
func (c *Catalog) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil
	}
	c.closed = true
	close(c.done)
	for s := range c.subs {
		c.dropSub(s, ErrClosed)
	}
	c.closeStore()
	return nil
}

// SetPublisher sets the function that receives every delta the catalog
// produces (local writes, rebases). The agent sets it to gossip's Publish once
// both exist; before that, deltas are not pushed and anti-entropy carries them.
// f is called without the catalog's lock held, from the goroutine that made
// the change; it must not block for long. nil unsets it.
func (c *Catalog) SetPublisher(f func(crdt.Delta)) {
	if f == nil {
		c.publish.Store(nil)
		return
	}
	c.publish.Store(&f)
}

func (c *Catalog) emit(ds []crdt.Delta) {
	p := c.publish.Load()
	if p == nil {
		return
	}
	for _, d := range ds {
		(*p)(d)
	}
}

// Merge joins a delta received from a peer (gossip's Store interface). A delta
// that is not merged returns an error and changes nothing visible: invalid
// (crdt.ErrInvalidDelta), of an origin that is not a known member
// (ErrUnknownOrigin: held in quarantine, see Config.UnknownGrace), of an
// implausible epoch (ErrBadEpoch), or beyond the origin's bounds (ErrOverQuota,
// ErrTooLarge). Records that fail to decode are ignored (counted in Stats,
// logged). A delta showing another incarnation of this agent's own origin — a
// newer epoch, or the current epoch with a history this agent did not write —
// makes the catalog rebase above it (persisting the new epoch first, without
// the lock) and publish the result; Merge then returns an empty result and no
// error.
func (c *Catalog) Merge(d crdt.Delta) (crdt.MergeResult, error) {
	c.mu.Lock()
	res, seen, err := c.mergeLocked(d)
	if len(res.Changes) > 0 {
		b := c.newBatch()
		c.applyChanges(b, res.Changes)
		c.commit(b)
	}
	c.mu.Unlock()
	if seen != 0 {
		c.rebaseAbove(seen)
	}
	return res, err
}

// rebaseAbove moves the own origin to a fresh epoch above seen and its own,
// unless it is above seen already, and publishes the result. The new epoch is
// persisted before anything uses it, with emu held and mu not: gossip's
// receive path never waits for the disk under mu, and no epoch is published
// that a restart could draw again.
func (c *Catalog) rebaseAbove(seen uint64) {
	c.emu.Lock()
	defer c.emu.Unlock()
	c.mu.Lock()
	own := c.state.Position(c.cfg.Node).Epoch
	if own > seen || c.closed {
		c.mu.Unlock()
		return // a concurrent rebase moved above it
	}
	epoch := nextEpoch(max(seen, own), c.cfg.Now(), randUint64())
	c.mu.Unlock()
	if epoch <= own {
		c.log.Error().Uint64("peer_epoch", seen).Uint64("own_epoch", own).Msg("cannot rebase: no epoch left above the peer's")
		return
	}
	c.log.Warn().Uint64("peer_epoch", seen).Uint64("own_epoch", own).
		Uint64("new_epoch", epoch).Msg("a peer holds another incarnation of this node, rebasing")
	if err := c.saveEpoch(epoch); err != nil {
		// Not rebased: a restart could draw this epoch again. The next
		// delta or digest showing the other incarnation retries.
		c.log.Error().Err(err).Msg("persist rebased epoch; not rebasing")
		return
	}
	c.mu.Lock()
	if _, err := c.state.Rebase(epoch); err != nil {
		c.mu.Unlock()
		c.log.Error().Err(err).Msg("rebase")
		return
	}
	c.rebases++
	b := c.newBatch()
	var chs []crdt.Change
	for e := range c.state.Entries(c.cfg.Node) {
		// Same values under new seqs: each record is replaced by itself.
		chs = append(chs, crdt.Change{Origin: c.cfg.Node, Key: e.Key, Seq: e.Seq, Old: e.Value, New: e.Value})
	}
	c.applyChanges(b, chs)
	c.commit(b)
	delete(c.samples, c.cfg.Node)
	out := c.state.DeltaSinceOrigin(c.cfg.Node, crdt.Position{}, c.cfg.AnnounceBudget)
	c.mu.Unlock()
	c.emit(out)
}

// Digest returns the replica's digest (gossip's Store interface).
func (c *Catalog) Digest() crdt.Digest {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.state.Digest()
}

// DigestSums is Digest().Sums(buckets) without building the digest
// (gossip's DigestSummer): what an anti-entropy round compares first.
func (c *Catalog) DigestSums(buckets int) (uint64, []uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.state.DigestSums(buckets)
}

// DeltaSince returns what a peer holding digest peer lacks, in deltas of about
// budget bytes (gossip's Store interface).
//
// A digest that shows another incarnation of this agent's own origin (a newer
// epoch, or more of the current one than this agent wrote) makes the catalog
// rebase above it first, as Merge does, unless that epoch is implausible
// (Config.MaxEpochAhead).
func (c *Catalog) DeltaSince(peer crdt.Digest, budget int) []crdt.Delta {
	c.mu.Lock()
	if err := c.state.CheckSelf(peer); err != nil {
		if seen := peer[c.cfg.Node].Epoch; seen <= c.maxEpoch {
			c.log.Warn().Err(err).Msg("a peer's digest shows another incarnation of this node")
			c.mu.Unlock()
			c.rebaseAbove(seen)
			c.mu.Lock()
		}
	}
	ds := c.state.DeltaSince(peer, budget)
	c.mu.Unlock()
	return ds
}

// DeltaSinceOrigin is DeltaSince for one origin, for gap repair (gossip's Store
// interface).
func (c *Catalog) DeltaSinceOrigin(origin string, have crdt.Position, budget int) []crdt.Delta {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.state.DeltaSinceOrigin(origin, have, budget)
}

// Announce returns the own origin's whole state as snapshot deltas of about
// Config.AnnounceBudget bytes each, to push at startup or after a rejoin.
func (c *Catalog) Announce() []crdt.Delta {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.state.DeltaSinceOrigin(c.cfg.Node, crdt.Position{}, c.cfg.AnnounceBudget)
}

// Node is this agent's name (the own origin).
func (c *Catalog) Node() string { return c.cfg.Node }

// Epoch is the own origin's current epoch.
func (c *Catalog) Epoch() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.state.Position(c.cfg.Node).Epoch
}

// Warnings returns the persistence problems found when the catalog started
// (corrupt files set aside, registrations dropped), for the agent to show.
func (c *Catalog) Warnings() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.warnings...)
}

func (c *Catalog) warn(msg string) {
	c.warnings = append(c.warnings, msg)
	c.log.Error().Msg(msg)
}
