package gossip

import (
	"errors"
	"fmt"
	"net"
	"os"
	"time"

	"github.com/hashicorp/memberlist"
	"github.com/rs/zerolog"
)

// ErrInvalidConfig wraps every reason Validate rejects a Config.
var ErrInvalidConfig = errors.New("gossip: invalid config")

// Config configures a Node. Start from DefaultConfig.
type Config struct {
	// Name is the node's unique name in the cluster. It must equal the Store's
	// own crdt origin: peers use it to address repairs and to skip the origin
	// when forwarding. Default: the host name.
	Name string
	// BindAddr and BindPort are where memberlist's default network transport
	// listens when Transport is nil (UDP and TCP). Default 0.0.0.0:7946.
	BindAddr string
	BindPort int
	// AdvertiseAddr and AdvertisePort, if set, are what peers are told to dial
	// instead of the bind address. Default: derived by memberlist.
	AdvertiseAddr string
	AdvertisePort int
	// Transport replaces the network (sim/simnet in tests and simulations). Nil
	// means memberlist's net transport bound per BindAddr/BindPort.
	Transport memberlist.Transport
	// Meta is this node's memberlist metadata (at most memberlist.MetaMaxSize =
	// 512 bytes), visible to peers in Member.Meta. Default none. Node.SetMeta
	// replaces it at run time.
	Meta []byte
	// MetaInterval is the least time between two broadcasts of changed
	// metadata (Node.SetMeta): each is an alive message every member gossips
	// on, ahead of deltas in the same packets, so frequent changes must not
	// flood. 0 means the default, 2 s.
	MetaInterval time.Duration

	// Seeds are addresses ("host:port") the rejoin loop keeps trying while none of
	// them is a live member. Join does not use them implicitly. Default none.
	Seeds []string

	// Fanout is how many random live peers a delta learned from piggyback or
	// anti-entropy is pushed to when it is new here; each peer receiving it
	// first forwards it the same way. (Local changes go out on relay trees,
	// which reach every member once per tree: relay.go.) 0 (the default)
	// means automatic: ⌈ln N⌉ + 5 for N live members, so that the chance that
	// any of N nodes is missed is about N·e^-fanout = e^-5 < 1%. A positive
	// value is used as is; negative disables eager push altogether, relay
	// trees included (piggyback only; comparison).
	Fanout int
	// ChunkBytes is the budget of one reliable sync message (bytes, estimated by
	// crdt.Delta.Size): anti-entropy and repair answers are cut into messages of
	// about this size. Default 64 KiB: large enough to amortize a stream, small
	// enough not to hold a stream handler long.
	ChunkBytes int
	// SyncInterval is how often the node exchanges digests with one random live
	// peer over the reliable channel (0 disables). memberlist's push/pull does the
	// same but at PushPullInterval scaled up with cluster size and also ships the
	// whole member list; this cheaper, more frequent exchange bounds how long a
	// lost eager push stays unrepaired. Default 2 s.
	SyncInterval time.Duration
	// StreamSyncEvery: every this many anti-entropy rounds send their sums
	// over a stream instead of a packet (sum.go). 1: every round. Default 5:
	// a node whose packets are lost but whose streams work still repairs
	// every 5 rounds (10 s).
	StreamSyncEvery int
	// PushPullInterval is memberlist's full state exchange with a random peer,
	// which carries our digest (and, on join, brings a new node up to date).
	// memberlist's LAN default is 30 s; default here 10 s.
	PushPullInterval time.Duration
	// RepairInterval rate-limits gap repair: at most one request per origin per
	// interval. Default 500 ms (several round trips on a LAN).
	RepairInterval time.Duration
	// RejoinInterval is how often the rejoin loop tries seeds and recently failed
	// or departed members that are not live members (0 disables). memberlist never
	// re-merges the halves of a partition longer than its suspicion time on its
	// own (docs/hazards.md). Default 5 s.
	RejoinInterval time.Duration
	// RejoinMaxWait caps the per-address backoff of the rejoin loop: an address
	// is retried every RejoinInterval while its outage is young, then every
	// twentieth of the outage's age, up to RejoinMaxWait. Default 2 min.
	RejoinMaxWait time.Duration
	// RejoinBatch is how many addresses one rejoin attempt tries at most, chosen
	// at random among the candidates. Default 3.
	RejoinBatch int
	// RejoinMemory is how long a failed or departed member's address is kept as
	// a rejoin candidate. Default 24 h: a day-long partition still heals.
	RejoinMemory time.Duration

	// SecretKeys enables encryption (AES-GCM via memberlist's keyring) when
	// non-empty: each key 16, 24 or 32 bytes; the first is used to encrypt, all
	// are tried to decrypt (key rotation). Incoming and outgoing verification
	// are on: a node without a current key can neither join nor inject.
	SecretKeys [][]byte
	// Label, if set, is prepended (in clear) to every packet and stream and
	// required on every inbound one: a cheap way to keep two clusters that
	// share a network and a key apart. It is not a secret and authenticates
	// nothing; the key does. At most 255 bytes. Default "" (none).
	Label string
	// AllowedCIDRs, if non-empty, restricts the source addresses from which
	// packets and streams are accepted (memberlist's CIDRsAllowed); anything
	// else is dropped before it is read, and counted as rejected "cidr".
	// Default nil (any source).
	AllowedCIDRs []net.IPNet
	// OnKeyring, if set, is called with the new keys (primary first) after
	// every live keyring change on this node (Keyring, or a peer's request),
	// with the change serialized: the agent persists them. An error is
	// reported to the requester. It must not call Keyring.
	OnKeyring func(keys [][]byte) error
	// MergeReason classifies the Store's Merge errors into rejection reasons
	// (the agent maps the catalog's sentinels: unknown origin, bad epoch, over
	// quota, too large). nil, or a 0 result: crdt.ErrInvalidDelta is
	// ReasonMalformed, anything else ReasonInvalid.
	MergeReason func(error) Reason

	// SenderRecordRate caps the records (delta entries, plus one per delta)
	// merged from one sender — the node named in the message — per second,
	// with bursts of SenderRecordBurst. Messages beyond it are rejected
	// (ReasonRateLimited) whole and left to anti-entropy. It bounds the merge
	// work one peer can cause. 0 disables. Default 20000/s, burst 100000 (a
	// snapshot of a large catalog in one go).
	SenderRecordRate  float64
	SenderRecordBurst int
	// ReplyRate caps the anti-entropy answers (to digests and repair
	// requests) sent to one peer: ReplyRate answers per second (burst
	// ReplyBurst) and ReplyBytesRate bytes per second (burst ReplyBytesBurst).
	// A request over either is rejected (ReasonRateLimited) unanswered. This
	// keeps a forged digest from turning the node into a reflector: what it
	// sends any one peer is bounded by these rates whatever it receives.
	// 0 disables. Defaults 20/s, burst 64; 1 MiB/s, burst 8 MiB (a fresh
	// node's whole catalog answers at once).
	ReplyRate       float64
	ReplyBurst      int
	ReplyBytesRate  float64
	ReplyBytesBurst int
	// EnableCompression turns memberlist's LZW compression on. Default true, like
	// memberlist; turn it off when many nodes share one process (sim, tests): it
	// is the CPU bottleneck there (docs/hazards.md).
	EnableCompression bool

	// Events receives membership changes, in order, from one goroutine of the
	// Node. It must not block for long: later events queue behind it (the queue
	// is unbounded so memberlist is never blocked). Default nil (none).
	Events func(Event)
	// Logger receives the node's logs; memberlist's own log lines are bridged in
	// at debug level. Default zerolog.Nop().
	Logger zerolog.Logger
	// Tune, if set, adjusts the memberlist config after this package filled it
	// (timers for tests and sim, e.g. GossipInterval or ProbeInterval). It must
	// not replace Delegate, Events, Transport or Keyring.
	Tune func(*memberlist.Config)

	// noSums makes the node advertise that it does not understand msgSum,
	// as agents before sums did (tests of mixed clusters; export_test.go).
	noSums bool
}

// DefaultConfig returns the production defaults, documented on each field.
func DefaultConfig() Config {
	host, _ := os.Hostname()
	return Config{
		Name:              host,
		BindAddr:          "0.0.0.0",
		BindPort:          7946, // Grapevine's gossip port (docs/design.md)
		Fanout:            0,    // automatic, see the field
		ChunkBytes:        64 << 10,
		SyncInterval:      2 * time.Second,
		StreamSyncEvery:   5,
		MetaInterval:      defaultMetaInterval,
		PushPullInterval:  10 * time.Second,
		RepairInterval:    500 * time.Millisecond,
		RejoinInterval:    5 * time.Second,
		RejoinMaxWait:     2 * time.Minute,
		RejoinBatch:       3,
		RejoinMemory:      24 * time.Hour,
		EnableCompression: true,
		SenderRecordRate:  20000,  // ~20x a busy cluster's churn; merge work stays a few % of a core
		SenderRecordBurst: 100000, // a large catalog's snapshot in one go
		ReplyRate:         20,
		ReplyBurst:        64,      // a healed partition's repairs of many origins at once
		ReplyBytesRate:    1 << 20, // 1 MiB/s per peer
		ReplyBytesBurst:   8 << 20, // a fresh node's whole catalog
		Logger:            zerolog.Nop(),
	}
}

// Validate reports whether the Config can start a Node.
func (c Config) Validate() error {
	switch {
	case c.Name == "" || len(c.Name) > maxNameLen:
		return fmt.Errorf("%w: name length %d", ErrInvalidConfig, len(c.Name))
	case c.Transport == nil && (c.BindPort < 0 || c.BindPort > 65535):
		return fmt.Errorf("%w: bind port %d", ErrInvalidConfig, c.BindPort)
	case len(c.Meta) > memberlist.MetaMaxSize:
		return fmt.Errorf("%w: meta is %d bytes, max %d", ErrInvalidConfig, len(c.Meta), memberlist.MetaMaxSize)
	case c.ChunkBytes < 1024 || c.ChunkBytes > MaxFrame/2:
		return fmt.Errorf("%w: chunk bytes %d not in [1024, %d]", ErrInvalidConfig, c.ChunkBytes, MaxFrame/2)
	case c.StreamSyncEvery < 0:
		return fmt.Errorf("%w: stream sync every %d rounds", ErrInvalidConfig, c.StreamSyncEvery)
	case c.SyncInterval < 0 || c.MetaInterval < 0 || c.RejoinInterval < 0 || c.RepairInterval < 0 || c.RejoinMemory < 0 || c.RejoinMaxWait < 0:
		return fmt.Errorf("%w: negative interval", ErrInvalidConfig)
	case c.PushPullInterval <= 0:
		return fmt.Errorf("%w: push/pull interval %v", ErrInvalidConfig, c.PushPullInterval)
	case c.SenderRecordRate < 0 || c.SenderRecordBurst < 0 || c.ReplyRate < 0 || c.ReplyBurst < 0 || c.ReplyBytesRate < 0 || c.ReplyBytesBurst < 0:
		return fmt.Errorf("%w: negative rate limit", ErrInvalidConfig)
	case c.SenderRecordRate > 0 && c.SenderRecordBurst < 1, c.ReplyRate > 0 && c.ReplyBurst < 1, c.ReplyBytesRate > 0 && c.ReplyBytesBurst < 1:
		return fmt.Errorf("%w: a rate limit with a zero burst", ErrInvalidConfig)
	case len(c.Label) > memberlist.LabelMaxSize:
		return fmt.Errorf("%w: label is %d bytes, max %d", ErrInvalidConfig, len(c.Label), memberlist.LabelMaxSize)
	case c.RejoinInterval > 0 && c.RejoinBatch < 1:
		return fmt.Errorf("%w: rejoin batch %d", ErrInvalidConfig, c.RejoinBatch)
	}
	for i, k := range c.SecretKeys {
		if err := memberlist.ValidateKey(k); err != nil {
			return fmt.Errorf("%w: secret key %d: %v", ErrInvalidConfig, i, err)
		}
	}
	return nil
}
