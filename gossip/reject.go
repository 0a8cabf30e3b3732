package gossip

import (
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"
)

// Reason is why a received message, stream or delta was rejected. Every
// rejection is counted by reason (Stats.Rejected, the agent's
// grapevine_gossip_rejected_total) and logged at warn, at most once per
// reason per rejectLogInterval.
type Reason uint8

// Rejection reasons. Names are stable: they are metric label values.
const (
	// ReasonDecrypt: a packet or stream that no installed key decrypts, or a
	// plaintext one while encryption is on (an outsider, or a key mismatch).
	ReasonDecrypt Reason = iota + 1
	// ReasonLabel: a packet or stream without the configured gossip label.
	ReasonLabel
	// ReasonCIDR: a packet or stream from a source outside AllowedCIDRs.
	ReasonCIDR
	// ReasonMalformed: undecodable (framing, msgpack, validation, unknown
	// message type or protocol version).
	ReasonMalformed
	// ReasonTooLarge: over a size bound (frame, memberlist's header counts,
	// a stream's byte budget, a record's size).
	ReasonTooLarge
	// ReasonUnknownOrigin: a delta of an origin this agent never knew as a
	// member (the catalog quarantines or drops it).
	ReasonUnknownOrigin
	// ReasonBadEpoch: a delta whose epoch the catalog refuses (implausibly
	// far ahead, or a forged epoch of this agent's own origin).
	ReasonBadEpoch
	// ReasonOverQuota: a delta that would make its origin hold more records
	// than the catalog allows.
	ReasonOverQuota
	// ReasonRateLimited: a sender's deltas or a peer's anti-entropy requests
	// over their rate.
	ReasonRateLimited
	// ReasonStreamLimit: an inbound stream refused because too many are open.
	ReasonStreamLimit
	// ReasonTimeout: a stream that stalled until its deadline.
	ReasonTimeout
	// ReasonInvalid: anything else the Store refused.
	ReasonInvalid
	reasonLimit
)

var reasonNames = [reasonLimit]string{"unknown", "decrypt", "label", "cidr", "malformed", "too_large",
	"unknown_origin", "bad_epoch", "over_quota", "rate_limited", "stream_limit", "timeout", "invalid"}

func (r Reason) String() string {
	if r > 0 && r < reasonLimit {
		return reasonNames[r]
	}
	return "unknown"
}

// Reasons lists every reason's name, in order (metric label values).
func Reasons() []string { return append([]string(nil), reasonNames[1:]...) }

// rejectLogInterval is the minimum time between two log lines of one reason;
// rejections in between are counted and reported with the next line.
const rejectLogInterval = 10 * time.Second

// rejects counts rejections by reason and rate-limits their log lines.
type rejects struct {
	counts [reasonLimit]atomic.Uint64

	mu         sync.Mutex // guards the fields below
	lastLog    [reasonLimit]time.Time
	suppressed [reasonLimit]uint64
}

// add counts one rejection and logs it at warn unless one of the same reason
// was logged less than rejectLogInterval ago; detail adds fields.
func (r *rejects) add(log zerolog.Logger, why Reason, err error, detail func(*zerolog.Event)) {
	if why == 0 || why >= reasonLimit {
		why = ReasonInvalid
	}
	r.counts[why].Add(1)
	now := time.Now()
	r.mu.Lock()
	if !r.lastLog[why].IsZero() && now.Sub(r.lastLog[why]) < rejectLogInterval {
		r.suppressed[why]++
		r.mu.Unlock()
		return
	}
	r.lastLog[why] = now
	suppressed := r.suppressed[why]
	r.suppressed[why] = 0
	r.mu.Unlock()
	ev := log.Warn().Str("reason", why.String()).Uint64("suppressed", suppressed)
	if err != nil {
		ev = ev.Err(err)
	}
	if detail != nil {
		detail(ev)
	}
	ev.Msg("gossip rejected")
}

func (r *rejects) snapshot() map[string]uint64 {
	out := make(map[string]uint64, reasonLimit-1)
	for why := Reason(1); why < reasonLimit; why++ {
		out[why.String()] = r.counts[why].Load()
	}
	return out
}

// reject counts and logs one rejection.
func (n *Node) reject(why Reason, err error, detail func(*zerolog.Event)) {
	n.rejects.add(n.log, why, err, detail)
}

// memberlistReason classifies one of memberlist's log lines: the rejections
// memberlist makes itself (decryption, label, size limits, bad framing) are
// only visible there. ok is false for lines that are not a rejection.
func memberlistReason(line string) (Reason, bool) {
	l := strings.ToLower(line)
	has := func(subs ...string) bool {
		for _, s := range subs {
			if strings.Contains(l, s) {
				return true
			}
		}
		return false
	}
	switch {
	case has("decrypt", "encryption is configured but", "encryption is not configured", "unsupported encryption version"):
		return ReasonDecrypt, true
	case has("label"):
		return ReasonLabel, true
	case has("too many pending push/pull"):
		return ReasonStreamLimit, true
	case has("exceeds limit", "remote node state size", "too large"):
		return ReasonTooLarge, true
	case has("i/o timeout", "deadline exceeded"):
		if has("failed to receive", "failed to read remote state", "failed to receive user message") {
			return ReasonTimeout, true
		}
		return 0, false
	case has("failed to decode", "invalid msgtype", "not supported", "missing message type", "invalid checksum",
		"failed to decompress", "failed to read remote state", "failed to receive user message", "failed to receive:",
		"failed push/pull merge", "truncated messages", "udp packet too short", "decompressed message is empty"):
		return ReasonMalformed, true
	}
	return 0, false
}
