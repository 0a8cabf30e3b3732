package catalog

import (
	"fmt"
	"time"

	"github.com/grapevine-sd/grapevine/crdt"
	"github.com/rs/zerolog"
)

// Config configures a Catalog. Start from DefaultConfig.
type Config struct {
	// Node is this agent's name: the crdt origin it alone writes. Required.
	Node string

	// DataDir holds the persisted epoch and the API registrations. Empty keeps
	// everything in memory: a restart then starts from the wall clock's epoch
	// and with no API registrations.
	DataDir string

	// LeaseGrace is how long the records of an origin SWIM declared failed stay
	// served, flagged stale, before they expire (leave default lookups).
	// Default 10 s: rides out a flapping host without serving a dead one for long.
	// Crash withdrawal (G4) = SWIM detection + LeaseGrace + up to one Tick.
	LeaseGrace time.Duration

	// StaleMaxAge bounds stale-over-empty: an expired record of a failed origin
	// is still served (flagged stale) when a query would otherwise be empty, as
	// long as its owner failed less than StaleMaxAge ago. 0 disables the
	// fallback. Default 20 min (beyond PreservationMax, so a
	// partition that outlasts self-preservation still answers stale). At most
	// ReapAfter.
	StaleMaxAge time.Duration

	// ReapAfter is how long records of a failed or left origin are kept (not
	// served, except by stale-over-empty) before they are dropped from the
	// replica, measured from the failure or leave notice. Keeping them lets a
	// healed partition re-merge with small deltas. Default 30 min.
	ReapAfter time.Duration

	// UnknownGrace is how long deltas of an origin this agent has no
	// membership news of (no SWIM event, no peer's departure report) are held
	// in quarantine — not merged, not served, not forwarded, not persisted —
	// waiting for the news; then they are dropped. A new node's first deltas
	// can outrun the news of its join by a moment; a forged origin's never
	// get news. It must exceed how long membership gossip takes to announce a
	// new node (about a second on a LAN). Default 10 s; 0 rejects such deltas
	// at once.
	UnknownGrace time.Duration

	// MaxEpochAhead bounds the epochs this agent accepts: one whose clock part
	// is further ahead of this agent's clock is rejected (ErrBadEpoch), so no
	// peer can plant an epoch the real origin could not exceed. It must exceed
	// the largest clock difference between agents. Default 24 h.
	MaxEpochAhead time.Duration

	// MaxRecordsPerOrigin caps the records one origin may hold: a peer's delta
	// that would exceed it is rejected (ErrOverQuota), and so is a local
	// registration beyond it. Set it alike on every agent. Default 4096.
	MaxRecordsPerOrigin int

	// MaxValueBytes caps one encoded record: a peer's delta carrying a larger
	// one is rejected (ErrTooLarge), and so is a local registration whose
	// record could grow past it. 512 B – 64 KiB; default 16 KiB (the largest
	// valid instance, every tag, meta pair and output at its limit, is about
	// 53 KiB; real ones are well under 2 KiB).
	MaxValueBytes int

	// FloorMemory is how long the epoch of a reaped origin is remembered after
	// its records are reaped, so that an older incarnation of it cannot
	// replace the newer one peers may still hold (at most 65,536 origins; the
	// oldest are forgotten first). Default 24 h.
	FloorMemory time.Duration

	// MassFailureFraction engages self-preservation: when at least this share of
	// known origins (self included) failed within MassFailureWindow — most
	// likely a partition seen from here — failed origins' records stay stale
	// (do not expire) until the unreachable share drops below the fraction or
	// PreservationMax passes. Default 0.3. 0 disables self-preservation.
	MassFailureFraction float64

	// MassFailureWindow is the window in which failures count as one mass
	// disappearance. Default 30 s (SWIM spreads one partition's failure notices
	// over about one suspicion timeout).
	MassFailureWindow time.Duration

	// MassFailureMin is the fewest failures that count as a mass disappearance,
	// so that one crash in a three-node cluster is not one. Default 2.
	MassFailureMin int

	// PreservationMax caps how long self-preservation holds records stale.
	// Default 15 min.
	PreservationMax time.Duration

	// TombstoneHorizon is how long a deregistration's tombstone is kept before
	// it is collected (crdt.Compact). No resurrection (G3) holds for partitions
	// shorter than this; beyond it peers exchange snapshots. Default 1 h.
	TombstoneHorizon time.Duration

	// AnnounceBudget is the byte budget of each delta Announce returns.
	// Default 32 KiB (fits the gossip reliable channel comfortably).
	AnnounceBudget int

	// Now returns the current time. Default time.Now; tests pass a fake clock.
	// Only durations on this agent's own clock are computed; no time crosses
	// the network.
	Now func() time.Time

	// Logger receives the catalog's logs. Default zerolog.Nop().
	Logger zerolog.Logger
}

// DefaultConfig returns a Config with every default filled in except Node.
func DefaultConfig() Config {
	return Config{
		LeaseGrace:          10 * time.Second,
		UnknownGrace:        10 * time.Second,
		MaxEpochAhead:       24 * time.Hour,
		MaxRecordsPerOrigin: 4096,
		MaxValueBytes:       16 << 10,
		FloorMemory:         24 * time.Hour,
		StaleMaxAge:         20 * time.Minute,
		ReapAfter:           30 * time.Minute,
		MassFailureFraction: 0.3,
		MassFailureWindow:   30 * time.Second,
		MassFailureMin:      2,
		PreservationMax:     15 * time.Minute,
		TombstoneHorizon:    time.Hour,
		AnnounceBudget:      32 << 10,
		Now:                 time.Now,
		Logger:              zerolog.Nop(),
	}
}

// Validate reports the first invalid field.
func (c *Config) Validate() error {
	switch {
	case ValidateNodeName(c.Node) != nil:
		return fmt.Errorf("%w: node: %v", ErrInvalidConfig, ValidateNodeName(c.Node))
	case c.LeaseGrace < 0:
		return fmt.Errorf("%w: lease grace %v < 0", ErrInvalidConfig, c.LeaseGrace)
	case c.UnknownGrace < 0:
		return fmt.Errorf("%w: unknown grace %v < 0", ErrInvalidConfig, c.UnknownGrace)
	case c.MaxEpochAhead < time.Minute:
		return fmt.Errorf("%w: max epoch ahead %v < 1m", ErrInvalidConfig, c.MaxEpochAhead)
	case c.MaxRecordsPerOrigin < 1:
		return fmt.Errorf("%w: max records per origin %d < 1", ErrInvalidConfig, c.MaxRecordsPerOrigin)
	case c.MaxValueBytes < 512 || c.MaxValueBytes > crdt.MaxValueLen:
		return fmt.Errorf("%w: max value bytes %d outside 512..%d", ErrInvalidConfig, c.MaxValueBytes, crdt.MaxValueLen)
	case c.FloorMemory < 0:
		return fmt.Errorf("%w: floor memory %v < 0", ErrInvalidConfig, c.FloorMemory)
	case c.ReapAfter <= c.LeaseGrace:
		return fmt.Errorf("%w: reap after %v must exceed lease grace %v", ErrInvalidConfig, c.ReapAfter, c.LeaseGrace)
	case c.StaleMaxAge < 0 || c.StaleMaxAge > c.ReapAfter:
		return fmt.Errorf("%w: stale max age %v outside 0..reap after (%v)", ErrInvalidConfig, c.StaleMaxAge, c.ReapAfter)
	case c.MassFailureFraction < 0 || c.MassFailureFraction > 1:
		return fmt.Errorf("%w: mass failure fraction %v outside 0..1", ErrInvalidConfig, c.MassFailureFraction)
	case c.MassFailureFraction > 0 && (c.MassFailureWindow <= 0 || c.PreservationMax <= 0 || c.MassFailureMin < 1):
		return fmt.Errorf("%w: self-preservation needs a positive window, cap and minimum", ErrInvalidConfig)
	case c.TombstoneHorizon <= 0:
		return fmt.Errorf("%w: tombstone horizon %v must be positive", ErrInvalidConfig, c.TombstoneHorizon)
	case c.AnnounceBudget < 512:
		return fmt.Errorf("%w: announce budget %d < 512 bytes", ErrInvalidConfig, c.AnnounceBudget)
	case c.Now == nil:
		return fmt.Errorf("%w: nil clock", ErrInvalidConfig)
	}
	return nil
}
