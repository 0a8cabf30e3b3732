package simnet

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"time"

	"github.com/rs/zerolog"
)

// Sentinel errors.
var (
	// ErrInvalidConfig wraps every reason Validate rejects a Config or LinkConfig.
	ErrInvalidConfig = errors.New("simnet: invalid config")
	// ErrBadAddr: an address is not "ip:port" with a literal IP and a port 1-65535.
	ErrBadAddr = errors.New("simnet: bad address")
	// ErrAddrInUse: Transport was asked for an address whose transport is live
	// (neither shut down nor crashed).
	ErrAddrInUse = errors.New("simnet: address in use")
	// ErrClosed: the Network was closed.
	ErrClosed = errors.New("simnet: network closed")
	// ErrShutdown: the Transport was shut down (or replaced after a crash).
	ErrShutdown = errors.New("simnet: transport shut down")
	// ErrPacketTooLarge: WriteTo was given more than Config.MaxPacketSize bytes.
	ErrPacketTooLarge = errors.New("simnet: packet too large")
	// ErrRefused: a stream dial reached a host with no live listener (crashed, shut
	// down, never started) or whose accept backlog is full.
	ErrRefused = errors.New("simnet: connection refused")
	// ErrUnreachable: a stream dial crossed a partition or a cut link.
	ErrUnreachable = errors.New("simnet: no route to host")
	// ErrReset: the stream was reset (LinkConfig.StreamReset).
	ErrReset = errors.New("simnet: connection reset by peer")
)

// Distribution selects how a link's per-packet latency is drawn.
type Distribution int

const (
	// Uniform: Latency + U[0, Jitter). The zero value.
	Uniform Distribution = iota
	// Fixed: exactly Latency; Jitter is ignored.
	Fixed
	// LongTail: Latency + Jitter·(U^(-1/TailShape) − 1), a Pareto tail shifted to
	// start at 0: median ≈ Jitter·(2^(1/α)−1), mean Jitter/(α−1) for α > 1, and
	// rare very slow packets. The extra delay is capped at 1000·Jitter.
	LongTail
)

func (d Distribution) String() string {
	switch d {
	case Uniform:
		return "uniform"
	case Fixed:
		return "fixed"
	case LongTail:
		return "long_tail"
	}
	return fmt.Sprintf("distribution(%d)", int(d))
}

// LinkConfig describes one direction of a link (or the default for all links).
type LinkConfig struct {
	// Latency is the base one-way delay. Default 1ms (a LAN).
	Latency time.Duration
	// Jitter is the spread added to Latency, see Distribution. Default 1ms, which
	// reorders packets sent less than ~1ms apart.
	Jitter time.Duration
	// Distribution of the jitter. Default Uniform.
	Distribution Distribution
	// TailShape is the Pareto shape α of LongTail (> 0; 0 means 2). Smaller is
	// heavier: α ≤ 1 has no finite mean.
	TailShape float64
	// MaxDelay, if > 0, caps the total drawn one-way delay.
	MaxDelay time.Duration
	// Loss is the probability in [0,1] that a packet is dropped. Default 0.
	// Streams ignore it (TCP retransmits) unless it is 1, which makes the
	// direction unusable for streams too.
	Loss float64
	// Duplicate is the probability in [0,1] that a delivered packet is delivered
	// a second time, with its own latency. Default 0.
	Duplicate float64

	// Streams (TCP) on this direction: a stream's writes are otherwise
	// instant after the dial's round trip.
	//
	// StreamDelay is added to every write (queueing, a long path).
	StreamDelay time.Duration
	// StreamLoss is the probability in [0,1) that a write's segment is lost
	// and retransmitted: each loss costs a retransmission timeout
	// (StreamRTO, doubling, at most 6 in a row), as TCP does.
	StreamLoss float64
	// StreamReset is the probability in [0,1] that a write resets the
	// connection (both ends see it closed; the write fails).
	StreamReset float64
}

// StreamRTO is the first retransmission timeout a lost stream write costs
// (Linux's minimum RTO).
const StreamRTO = 200 * time.Millisecond

// String is a compact form for logs.
func (l LinkConfig) String() string {
	s := fmt.Sprintf("latency %v jitter %v %v loss %g dup %g", l.Latency, l.Jitter, l.Distribution, l.Loss, l.Duplicate)
	if l.StreamDelay > 0 || l.StreamLoss > 0 || l.StreamReset > 0 {
		s += fmt.Sprintf(" stream delay %v loss %g reset %g", l.StreamDelay, l.StreamLoss, l.StreamReset)
	}
	return s
}

// streamWrite draws the fate of one stream write: its extra delay, and
// whether it resets the connection. r must be guarded by the caller.
func (l LinkConfig) streamWrite(r *rand.Rand) (time.Duration, bool) {
	d := l.StreamDelay
	rto := StreamRTO
	for k := 0; k < 6 && l.StreamLoss > 0 && r.Float64() < l.StreamLoss; k++ {
		d += rto
		rto *= 2
	}
	return d, l.StreamReset > 0 && r.Float64() < l.StreamReset
}

// Validate reports whether the link is usable.
func (l LinkConfig) Validate() error {
	switch {
	case l.Latency < 0 || l.Jitter < 0 || l.MaxDelay < 0:
		return fmt.Errorf("%w: negative latency, jitter or max delay", ErrInvalidConfig)
	case !(l.Loss >= 0 && l.Loss <= 1):
		return fmt.Errorf("%w: loss %v not in [0,1]", ErrInvalidConfig, l.Loss)
	case !(l.Duplicate >= 0 && l.Duplicate <= 1):
		return fmt.Errorf("%w: duplicate %v not in [0,1]", ErrInvalidConfig, l.Duplicate)
	case l.StreamDelay < 0:
		return fmt.Errorf("%w: negative stream delay", ErrInvalidConfig)
	case !(l.StreamLoss >= 0 && l.StreamLoss <= 1):
		return fmt.Errorf("%w: stream loss %v not in [0,1]", ErrInvalidConfig, l.StreamLoss)
	case !(l.StreamReset >= 0 && l.StreamReset <= 1):
		return fmt.Errorf("%w: stream reset %v not in [0,1]", ErrInvalidConfig, l.StreamReset)
	case l.Distribution < Uniform || l.Distribution > LongTail:
		return fmt.Errorf("%w: unknown distribution %d", ErrInvalidConfig, int(l.Distribution))
	case l.TailShape < 0 || math.IsNaN(l.TailShape) || math.IsInf(l.TailShape, 0):
		return fmt.Errorf("%w: tail shape %v", ErrInvalidConfig, l.TailShape)
	}
	return nil
}

// maxTailFactor caps LongTail's extra delay at this many Jitters.
const maxTailFactor = 1000

// sample draws one one-way delay. r must be guarded by the caller.
func (l LinkConfig) sample(r *rand.Rand) time.Duration {
	d := l.Latency
	if l.Jitter > 0 {
		switch l.Distribution {
		case Uniform:
			d += time.Duration(r.Int64N(int64(l.Jitter)))
		case LongTail:
			alpha := l.TailShape
			if alpha == 0 {
				alpha = 2
			}
			u := 1 - r.Float64() // (0,1]
			f := math.Pow(u, -1/alpha) - 1
			if f > maxTailFactor || math.IsInf(f, 0) || math.IsNaN(f) {
				f = maxTailFactor
			}
			d += time.Duration(f * float64(l.Jitter))
		}
	}
	if l.MaxDelay > 0 && d > l.MaxDelay {
		d = l.MaxDelay
	}
	return d
}

// Config configures a Network.
type Config struct {
	// Seed seeds the one random source of the network. Same seed, same sequence of
	// draws (see the package comment for what that does and does not make
	// deterministic). Default 1.
	Seed uint64
	// DefaultLink applies to every directed link without its own SetLink.
	// Default: 1ms + U[0,1ms), no loss, no duplication.
	DefaultLink LinkConfig
	// InboxSize is the per-node packet inbox (memberlist's PacketCh) capacity in
	// packets; a delivery into a full inbox is a loss. Default 1024: memberlist
	// drains it continuously, so only a wedged or overloaded node fills it.
	InboxSize int
	// StreamBacklog is the per-node accept backlog (StreamCh capacity); a dial to a
	// full backlog is refused. Default 64.
	StreamBacklog int
	// PauseQueue bounds the packets (and, separately, streams) held for a paused
	// node; beyond it they are lost, like a stopped process's full socket buffer.
	// Default 1024.
	PauseQueue int
	// Bandwidth is the default egress cap of each node in bytes/s, 0 = unlimited.
	// Default 0. Packets beyond the cap queue (their delivery is delayed by the
	// serialization backlog); see BandwidthQueue.
	Bandwidth int64
	// BandwidthQueue bounds the egress backlog: a packet that would wait longer
	// than this to leave its node is dropped (tail drop). Default 100ms.
	BandwidthQueue time.Duration
	// MaxPacketSize is the largest packet WriteTo accepts (bytes); larger returns
	// ErrPacketTooLarge, like EMSGSIZE. Default 65507 (the UDP/IPv4 maximum).
	MaxPacketSize int
	// DialBlackhole makes stream dials across a partition or cut wait for the
	// whole dial timeout before failing (dropped SYNs), instead of failing after
	// one round trip (ICMP unreachable). Default false: faster tests.
	DialBlackhole bool
	// Logger receives fault changes at debug level (never per packet).
	// Default zerolog.Nop().
	Logger zerolog.Logger
}

// DefaultConfig returns a LAN-like network: 1-2ms one-way, no loss.
func DefaultConfig() Config {
	return Config{
		Seed: 1,
		DefaultLink: LinkConfig{
			Latency: time.Millisecond, // a switched LAN hop plus stacks
			Jitter:  time.Millisecond, // enough to reorder back-to-back packets
		},
		InboxSize:      1024,                   // memberlist drains continuously
		StreamBacklog:  64,                     // a busy node gets a few push/pulls at once
		PauseQueue:     1024,                   // a few seconds of gossip at LAN defaults
		BandwidthQueue: 100 * time.Millisecond, // a modest router buffer
		MaxPacketSize:  65507,                  // UDP over IPv4
		Logger:         zerolog.Nop(),
	}
}

// Validate reports whether cfg can build a Network.
func (c Config) Validate() error {
	if err := c.DefaultLink.Validate(); err != nil {
		return fmt.Errorf("default link: %w", err)
	}
	switch {
	case c.InboxSize <= 0:
		return fmt.Errorf("%w: inbox size %d", ErrInvalidConfig, c.InboxSize)
	case c.StreamBacklog <= 0:
		return fmt.Errorf("%w: stream backlog %d", ErrInvalidConfig, c.StreamBacklog)
	case c.PauseQueue < 0:
		return fmt.Errorf("%w: pause queue %d", ErrInvalidConfig, c.PauseQueue)
	case c.Bandwidth < 0:
		return fmt.Errorf("%w: bandwidth %d", ErrInvalidConfig, c.Bandwidth)
	case c.BandwidthQueue < 0:
		return fmt.Errorf("%w: bandwidth queue %v", ErrInvalidConfig, c.BandwidthQueue)
	case c.MaxPacketSize <= 0:
		return fmt.Errorf("%w: max packet size %d", ErrInvalidConfig, c.MaxPacketSize)
	}
	return nil
}
