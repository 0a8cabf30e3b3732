package probe

import (
	"errors"
	"strings"
	"time"
	"unicode/utf8"
)

// Sentinel errors.
var (
	ErrInvalidCheck  = errors.New("probe: invalid check")
	ErrInvalidConfig = errors.New("probe: invalid config")
	ErrUnknownCheck  = errors.New("probe: unknown check")
	ErrNotTTL        = errors.New("probe: not a ttl check")
	ErrInvalidStatus = errors.New("probe: invalid status")
	ErrClosed        = errors.New("probe: runner closed")
)

// Status is the health a check reports.
type Status string

// Statuses, from best to worst.
const (
	Passing  Status = "passing"
	Warning  Status = "warning"
	Critical Status = "critical"
)

// Valid reports whether s is passing, warning or critical.
func (s Status) Valid() bool { return s == Passing || s == Warning || s == Critical }

// rank orders statuses by badness; anything unknown counts as critical.
func (s Status) rank() int {
	switch s {
	case Passing:
		return 0
	case Warning:
		return 1
	default:
		return 2
	}
}

// Aggregate is the health of an owner with these check results: the worst
// status wins (critical > warning > passing; an unknown status counts as
// critical). No results means passing: an instance without checks is healthy.
func Aggregate(results []Result) Status {
	worst := Passing
	for _, r := range results {
		if r.Status.rank() > worst.rank() {
			worst = r.Status
			if worst.rank() == 2 {
				return Critical
			}
		}
	}
	return worst
}

// Result is the state of one check.
type Result struct {
	CheckID string `json:"check_id"`
	Name    string `json:"name,omitempty"`
	// Owner is the service instance ID the check was added for.
	Owner string `json:"owner"`
	// Status is the state after rise/fall thresholds.
	Status Status `json:"status"`
	// Previous is the state before this change (in OnChange), or the current
	// state (from Status and ByOwner).
	Previous Status `json:"previous,omitempty"`
	// Output is what the latest probe said (at most MaxOutput bytes, UTF-8).
	Output string `json:"output"`
	// Time is when the latest result (or state change) happened.
	Time time.Time `json:"time"`
}

// truncate makes s valid UTF-8 (runs of invalid bytes become "?", which never
// grows it) and cuts it to at most n bytes at a rune boundary.
func truncate(s string, n int) string {
	s = strings.ToValidUTF8(s, "?")
	if len(s) > n {
		i := n
		for i > 0 && !utf8.RuneStart(s[i]) {
			i--
		}
		s = s[:i]
	}
	return s
}

// clipOutput bounds probe output to MaxOutput bytes, marking a cut.
func clipOutput(s string) string {
	if len(s) <= MaxOutput {
		return truncate(s, MaxOutput)
	}
	return truncate(s, MaxOutput-len(truncatedMark)) + truncatedMark
}
