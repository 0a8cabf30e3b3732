package catalog

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"time"
	"unicode/utf8"
)

// Errors returned by the catalog. Each is wrapped with detail; check with errors.Is.
var (
	// ErrInvalidInstance wraps every reason an instance fails Validate.
	ErrInvalidInstance = errors.New("catalog: invalid instance")
	// ErrNotFound means no local registration has the given ID.
	ErrNotFound = errors.New("catalog: instance not found")
	// ErrInvalidConfig wraps every reason a Config fails Validate.
	ErrInvalidConfig = errors.New("catalog: invalid config")
	// ErrClosed is returned by Wait and by writes after Close.
	ErrClosed = errors.New("catalog: closed")
	// ErrPersist wraps a failure to write the data directory; the change that
	// needed it was not applied.
	ErrPersist = errors.New("catalog: persist")
	// ErrDataDirInUse means another running agent holds the data directory.
	ErrDataDirInUse = errors.New("catalog: data directory in use")

	// Rejections of Merge: a peer's delta that was not applied. Gossip counts
	// them by reason (grapevine_gossip_rejected_total); docs/protocol.md has
	// the rules.

	// ErrUnknownOrigin: the delta's origin is not a member this agent knows
	// (no membership news of it, and no peer reported it failed or left). Its
	// records are held in quarantine, not served, until the member is known,
	// or dropped.
	ErrUnknownOrigin = errors.New("catalog: unknown origin")
	// ErrBadEpoch: the delta's epoch is implausibly far ahead of this agent's
	// clock (Config.MaxEpochAhead), or is not one the own origin issued.
	ErrBadEpoch = errors.New("catalog: bad epoch")
	// ErrOverQuota: applying the delta would make its origin hold more records
	// than Config.MaxRecordsPerOrigin.
	ErrOverQuota = errors.New("catalog: origin over quota")
	// ErrTooLarge: a record of the delta is larger than Config.MaxValueBytes.
	ErrTooLarge = errors.New("catalog: record too large")
)

// Limits enforced by Instance.Validate. They bound what one record may cost every
// replica, and keep an encoded record far below crdt.MaxValueLen.
const (
	MaxServiceLen  = 63   // bytes of a service name (one DNS label)
	MaxIDLen       = 128  // bytes of an instance ID
	MaxNodeLen     = 128  // bytes of a node name
	MaxZoneLen     = 63   // bytes of a zone name
	MaxAddressLen  = 253  // bytes of an address (IP or DNS name)
	MaxTags        = 64   // tags per instance
	MaxTagLen      = 128  // bytes of one tag
	MaxMeta        = 64   // meta pairs per instance
	MaxMetaKeyLen  = 128  // bytes of a meta key
	MaxMetaValLen  = 512  // bytes of a meta value
	MaxOutputLen   = 4096 // bytes of check output; longer output is truncated by the owner
	maxPortNumber  = 65535
	maxLabelLength = 63
)

// Health is an instance's health as its owner last published it. The zero value
// is not a valid health; Register treats it as HealthPassing.
type Health uint8

// Health values. Their text form (JSON, flags, HTTP) is the lowercase name.
const (
	HealthPassing Health = iota + 1
	HealthWarning
	HealthCritical
	HealthMaintenance
)

var healthNames = [...]string{"", "passing", "warning", "critical", "maintenance"}

// String returns the lowercase name ("passing", ...), or "health(N)" if invalid.
func (h Health) String() string {
	if h.Valid() {
		return healthNames[h]
	}
	return fmt.Sprintf("health(%d)", uint8(h))
}

// Valid reports whether h is one of the four healths.
func (h Health) Valid() bool { return h >= HealthPassing && h <= HealthMaintenance }

// ParseHealth parses a lowercase health name.
func ParseHealth(s string) (Health, error) {
	for i := HealthPassing; i <= HealthMaintenance; i++ {
		if healthNames[i] == s {
			return i, nil
		}
	}
	return 0, fmt.Errorf("%w: unknown health %q (want passing, warning, critical or maintenance)", ErrInvalidInstance, s)
}

// MarshalText implements encoding.TextMarshaler (so JSON shows "passing").
func (h Health) MarshalText() ([]byte, error) {
	if !h.Valid() {
		return nil, fmt.Errorf("%w: health %d", ErrInvalidInstance, uint8(h))
	}
	return []byte(healthNames[h]), nil
}

// UnmarshalText implements encoding.TextUnmarshaler.
func (h *Health) UnmarshalText(b []byte) error {
	v, err := ParseHealth(string(b))
	if err != nil {
		return err
	}
	*h = v
	return nil
}

// Version is the crdt version of an instance's record: the owner's epoch and the
// seq of the change that wrote it. It is filled when read from the catalog and
// ignored by Register.
type Version struct {
	Epoch uint64 `json:"epoch"`
	Seq   uint64 `json:"seq"`
}

// Instance is one running copy of a service. Its global identity is (Node, ID);
// Node is the owning agent (the crdt origin). Instances read from the catalog
// share their Tags and Meta with the catalog: treat them as read-only.
type Instance struct {
	ID      string            `json:"id"`
	Service string            `json:"service"`
	Node    string            `json:"node"`
	Address string            `json:"address,omitempty"` // IP or DNS name; empty = the node's address
	Port    int               `json:"port"`
	Tags    []string          `json:"tags,omitempty"`
	Meta    map[string]string `json:"meta,omitempty"`
	Zone    string            `json:"zone,omitempty"`
	Health  Health            `json:"health"`
	Output  string            `json:"output,omitempty"` // last check output or maintenance reason
	Version Version           `json:"version"`
}

// Entry is an instance as a query serves it, with its freshness. Stale is set
// when the owner is unreachable (SWIM declared it failed); Age is then how long
// ago the owner was last known alive (measured from the failure notice, so it
// underestimates by the detection time), and 0 for live entries.
type Entry struct {
	Instance
	Stale bool          `json:"stale"`
	Age   time.Duration `json:"age"`

	since int64 // failure time of the owner (Unix ns), for Age; 0 when live
}

// Validate checks every field against the limits above. Version is not checked.
func (in *Instance) Validate() error {
	if err := ValidateServiceName(in.Service); err != nil {
		return err
	}
	if err := checkName("id", in.ID, MaxIDLen); err != nil {
		return err
	}
	if err := checkName("node", in.Node, MaxNodeLen); err != nil {
		return err
	}
	if err := validateAddress(in.Address); err != nil {
		return err
	}
	if in.Port < 0 || in.Port > maxPortNumber {
		return fmt.Errorf("%w: port %d outside 0..65535", ErrInvalidInstance, in.Port)
	}
	if err := validateTags(in.Tags); err != nil {
		return err
	}
	if err := validateMeta(in.Meta); err != nil {
		return err
	}
	if in.Zone != "" {
		if err := checkName("zone", in.Zone, MaxZoneLen); err != nil {
			return err
		}
	}
	if !in.Health.Valid() {
		return fmt.Errorf("%w: health %d", ErrInvalidInstance, uint8(in.Health))
	}
	if len(in.Output) > MaxOutputLen || !utf8.ValidString(in.Output) {
		return fmt.Errorf("%w: output of %d bytes (max %d, UTF-8)", ErrInvalidInstance, len(in.Output), MaxOutputLen)
	}
	return nil
}

// ValidateServiceName checks that s is a DNS-label-safe service name: 1 to 63
// bytes of [a-z0-9-], not starting or ending with '-'.
func ValidateServiceName(s string) error {
	if s == "" || len(s) > MaxServiceLen {
		return fmt.Errorf("%w: service name %q must be 1 to %d bytes", ErrInvalidInstance, s, MaxServiceLen)
	}
	if s[0] == '-' || s[len(s)-1] == '-' {
		return fmt.Errorf("%w: service name %q starts or ends with '-'", ErrInvalidInstance, s)
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return fmt.Errorf("%w: service name %q: only a-z, 0-9 and '-' are allowed", ErrInvalidInstance, s)
		}
	}
	return nil
}

// ValidateNodeName checks a node name (the crdt origin): 1 to 128 printable
// ASCII bytes without '/' or spaces.
func ValidateNodeName(s string) error { return checkName("node", s, MaxNodeLen) }

// checkName accepts 1..max bytes of printable ASCII other than space and '/'
// (IDs and node names appear in URL paths).
func checkName(what, s string, max int) error {
	if s == "" || len(s) > max {
		return fmt.Errorf("%w: %s %q must be 1 to %d bytes", ErrInvalidInstance, what, s, max)
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c <= ' ' || c >= 0x7f || c == '/' {
			return fmt.Errorf("%w: %s %q: byte 0x%02x not allowed (printable ASCII without space and '/')", ErrInvalidInstance, what, s, c)
		}
	}
	return nil
}

func validateAddress(a string) error {
	if a == "" {
		return nil
	}
	if len(a) > MaxAddressLen {
		return fmt.Errorf("%w: address of %d bytes (max %d)", ErrInvalidInstance, len(a), MaxAddressLen)
	}
	if _, err := netip.ParseAddr(a); err == nil {
		return nil
	}
	for label := range strings.SplitSeq(strings.TrimSuffix(a, "."), ".") {
		if label == "" || len(label) > maxLabelLength || label[0] == '-' || label[len(label)-1] == '-' {
			return fmt.Errorf("%w: address %q is neither an IP nor a DNS name", ErrInvalidInstance, a)
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				return fmt.Errorf("%w: address %q is neither an IP nor a DNS name", ErrInvalidInstance, a)
			}
		}
	}
	return nil
}

func validateTags(tags []string) error {
	if len(tags) > MaxTags {
		return fmt.Errorf("%w: %d tags (max %d)", ErrInvalidInstance, len(tags), MaxTags)
	}
	for _, t := range tags {
		if t == "" || len(t) > MaxTagLen || !printable(t) {
			return fmt.Errorf("%w: tag %q must be 1 to %d printable bytes", ErrInvalidInstance, t, MaxTagLen)
		}
	}
	return nil
}

func validateMeta(meta map[string]string) error {
	if len(meta) > MaxMeta {
		return fmt.Errorf("%w: %d meta pairs (max %d)", ErrInvalidInstance, len(meta), MaxMeta)
	}
	for k, v := range meta {
		if k == "" || len(k) > MaxMetaKeyLen || !printable(k) || strings.ContainsAny(k, " :") {
			return fmt.Errorf("%w: meta key %q must be 1 to %d printable bytes without space or ':'", ErrInvalidInstance, k, MaxMetaKeyLen)
		}
		if len(v) > MaxMetaValLen || !utf8.ValidString(v) {
			return fmt.Errorf("%w: meta %q value of %d bytes (max %d, UTF-8)", ErrInvalidInstance, k, len(v), MaxMetaValLen)
		}
	}
	return nil
}

// printable reports whether s is valid UTF-8 without control characters.
func printable(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if r < ' ' || r == 0x7f {
			return false
		}
	}
	return true
}

// truncateOutput cuts s to MaxOutputLen bytes at a UTF-8 boundary and makes it
// valid UTF-8.
func truncateOutput(s string) string {
	return truncateTo(strings.ToValidUTF8(s, "\uFFFD"), MaxOutputLen)
}

// truncateTo cuts valid UTF-8 s to at most n bytes on a rune boundary.
func truncateTo(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut]
}
