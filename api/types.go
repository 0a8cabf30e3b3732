package api

import (
	"encoding/json"
	"time"
)

// Health is the health of an instance as the agent serves it.
type Health string

// Health values. HealthAny is only a query filter, never an instance's health.
const (
	HealthPassing     Health = "passing"
	HealthWarning     Health = "warning"
	HealthCritical    Health = "critical"
	HealthMaintenance Health = "maintenance"
	HealthAny         Health = "any"
)

// Valid reports whether h is one of the four health states of an instance
// (not HealthAny).
func (h Health) Valid() bool {
	switch h {
	case HealthPassing, HealthWarning, HealthCritical, HealthMaintenance:
		return true
	}
	return false
}

// Version orders the writes of one instance record: epoch is the incarnation of
// the owner's state, seq its change counter within the epoch. Compare
// (Epoch, Seq) lexicographically.
type Version struct {
	Epoch uint64 `json:"epoch"`
	Seq   uint64 `json:"seq"`
}

// Instance is one running copy of a service, as an agent serves it. Its identity
// is (Node, ID).
type Instance struct {
	ID      string            `json:"id"`
	Service string            `json:"service"`
	Node    string            `json:"node"`
	Address string            `json:"address"`
	Port    int               `json:"port"`
	Tags    []string          `json:"tags"`
	Meta    map[string]string `json:"meta"`
	Zone    string            `json:"zone"`
	Health  Health            `json:"health"`
	// Output is the last check output, if any (truncated by the agent).
	Output string `json:"output,omitempty"`
	// Stale is true when the owner of the record is unreachable and the agent
	// serves its last-known state (stale over empty).
	Stale bool `json:"stale"`
	// AgeMillis is, for a stale record, how long ago (milliseconds) the agent
	// last knew the owner alive; 0 for records of live owners.
	AgeMillis int64   `json:"age_ms"`
	Version   Version `json:"version"`
}

// MarshalJSON writes nil Tags and Meta as [] and {}: the wire format always
// has both.
func (i Instance) MarshalJSON() ([]byte, error) {
	type plain Instance // without methods: no recursion
	p := plain(i)
	if p.Tags == nil {
		p.Tags = []string{}
	}
	if p.Meta == nil {
		p.Meta = map[string]string{}
	}
	return json.Marshal(p)
}

// Age is AgeMillis as a duration.
func (i Instance) Age() time.Duration { return time.Duration(i.AgeMillis) * time.Millisecond }

// ServiceSummary is one row of GET /v1/services: a service and its instance
// counts by health. Stale counts the instances also counted by health whose
// owner is unreachable.
type ServiceSummary struct {
	Name        string `json:"name"`
	Instances   int    `json:"instances"`
	Passing     int    `json:"passing"`
	Warning     int    `json:"warning"`
	Critical    int    `json:"critical"`
	Maintenance int    `json:"maintenance"`
	Stale       int    `json:"stale"`
}

// MemberStatus is the membership state of an agent as SWIM sees it.
type MemberStatus string

// Member states.
const (
	MemberAlive   MemberStatus = "alive"
	MemberSuspect MemberStatus = "suspect"
	MemberLeft    MemberStatus = "left"
	MemberFailed  MemberStatus = "failed"
)

// Member is one agent of the cluster (GET /v1/members).
type Member struct {
	Name   string            `json:"name"`
	Addr   string            `json:"addr"`
	Port   int               `json:"port"`
	Status MemberStatus      `json:"status"`
	Zone   string            `json:"zone"`
	Meta   map[string]string `json:"meta,omitempty"`
	// RTTMillis is the round trip, in milliseconds, of this agent's last
	// successful probe of the member; absent until one completed (and for the
	// agent itself, and members that left or failed).
	RTTMillis float64 `json:"rtt_ms,omitempty"`
	// ProbeFailures counts this agent's SWIM probes of the member that got no
	// ack (since it last joined); LastProbeFailure is the latest one's time.
	// A member is "suspect" from a failed probe until one succeeds or SWIM
	// declares it dead.
	ProbeFailures    uint64    `json:"probe_failures,omitempty"`
	LastProbeFailure time.Time `json:"last_probe_failure,omitzero"`
	// Version is the member's agent version, if it reports one.
	Version string `json:"version,omitempty"`
	// Fingerprint is the member's catalog fingerprint as it last gossiped it
	// (absent for older agents, and members that left or failed).
	Fingerprint *Fingerprint `json:"fingerprint,omitempty"`
	// Agrees is whether the member's fingerprint hash equals this agent's
	// (absent without a fingerprint).
	Agrees *bool `json:"agrees,omitempty"`
}

// Registration is the body of PUT /v1/agent/services: a service instance on the
// agent's own host. Registering an ID that exists replaces it.
type Registration struct {
	// ID is unique among this agent's instances; empty means Name.
	ID   string `json:"id,omitempty"`
	Name string `json:"name"`
	// Address empty means the agent's advertise address.
	Address string            `json:"address,omitempty"`
	Port    int               `json:"port"`
	Tags    []string          `json:"tags,omitempty"`
	Meta    map[string]string `json:"meta,omitempty"`
	// Zone empty means the agent's zone.
	Zone string `json:"zone,omitempty"`
	// Checks are health check definitions (JSON objects, see CheckDefinition),
	// passed to the agent's prober unchanged. Without checks the instance is
	// passing while the agent lives.
	Checks []json.RawMessage `json:"checks,omitempty"`
}

// CheckDefinition mirrors the fields every health check definition has. The
// agent's prober defines the full schema (type-specific fields such as an HTTP
// method); use it through Registration.AddCheck, or write the JSON by hand.
// Durations are Go duration strings ("10s", "1m30s").
type CheckDefinition struct {
	// ID is unique in the agent; empty means "<instance id>:<n>" with n the
	// 1-based position in Checks. TTL updates address a check by this ID.
	ID       string `json:"id,omitempty"`
	Type     string `json:"type"` // http, tcp, exec, ttl, grpc
	Target   string `json:"target,omitempty"`
	Interval string `json:"interval,omitempty"`
	Timeout  string `json:"timeout,omitempty"`
	TTL      string `json:"ttl,omitempty"`
}

// AddCheck appends a check definition (any value that marshals to a JSON
// object, e.g. a CheckDefinition) to r.Checks.
func (r *Registration) AddCheck(def any) error {
	b, err := json.Marshal(def)
	if err != nil {
		return err
	}
	if len(b) == 0 || b[0] != '{' {
		return errCheckNotObject
	}
	r.Checks = append(r.Checks, b)
	return nil
}

// TTLUpdate is the body of PUT /v1/agent/checks/{id}/ttl: it sets a TTL check's
// status and restarts its TTL. Status is passing, warning or critical.
type TTLUpdate struct {
	Status Health `json:"status"`
	Output string `json:"output,omitempty"`
}

// AgentSelf is GET /v1/agent/self: who the agent is and a fingerprint of its
// catalog, so two agents can be compared for convergence.
type AgentSelf struct {
	Version  string `json:"version"`  // build version
	Protocol int    `json:"protocol"` // gossip protocol version
	Node     string `json:"node"`
	Zone     string `json:"zone"`
	// Epoch is this agent's current epoch as an origin.
	Epoch   uint64       `json:"epoch"`
	Catalog CatalogStats `json:"catalog"`
	// Digest maps every origin the agent knows to the version it holds.
	Digest       map[string]DigestEntry `json:"digest"`
	Preservation Preservation           `json:"preservation"`
	Members      MemberCounts           `json:"members"`
	// Gossip is how this agent's gossip is protected.
	Gossip GossipSecurity `json:"gossip"`
	// Fingerprint is this agent's own, as it gossips it; Agreement how many
	// members carry the same.
	Fingerprint Fingerprint `json:"fingerprint"`
	Agreement   Agreement   `json:"agreement"`
	// Warnings are what the operator should fix (insecure HTTP exposure, data
	// directory problems), as sentences; omitted when none.
	Warnings []string `json:"warnings,omitempty"`
}

// GossipSecurity is how an agent's gossip traffic is protected.
type GossipSecurity struct {
	// Encrypted: gossip is encrypted and authenticated with a shared key.
	Encrypted bool `json:"encrypted"`
	// Insecure: the agent runs without a key on purpose (insecure_gossip or
	// -dev); anyone reaching its gossip port can plant records. UIs show it.
	Insecure bool `json:"insecure"`
	// Keys is how many keys the agent's keyring holds (0 when insecure).
	Keys int `json:"keys"`
	// Label is the gossip label (gossip.label), "" if none.
	Label string `json:"label,omitempty"`
}

// CatalogStats summarizes an agent's replica of the catalog.
type CatalogStats struct {
	// Hash is a hex digest of the live catalog: equal on two agents means they
	// serve the same records.
	Hash       string `json:"hash"`
	Instances  int    `json:"instances"`
	Services   int    `json:"services"`
	Origins    int    `json:"origins"`
	Tombstones int    `json:"tombstones"`
}

// DigestEntry is what an agent holds of one origin: its epoch and the highest
// contiguous seq applied.
type DigestEntry struct {
	Epoch   uint64 `json:"epoch"`
	Applied uint64 `json:"applied"`
}

// Preservation is the self-preservation state (stale over empty on mass
// disappearance).
type Preservation struct {
	Active bool `json:"active"`
	// Since is when preservation became active (omitted when inactive).
	Since time.Time `json:"since,omitzero"`
	// Unreachable of Known origins are currently unreachable.
	Unreachable int `json:"unreachable"`
	Known       int `json:"known"`
}

// MemberCounts counts the cluster's members by status.
type MemberCounts struct {
	Alive   int `json:"alive"`
	Suspect int `json:"suspect"`
	Left    int `json:"left"`
	Failed  int `json:"failed"`
}

// Error is the body of every non-2xx response.
type Error struct {
	Error string `json:"error"`
}

// EventType is the kind of a StreamEvent.
type EventType string

// Stream event types.
const (
	// EventUpsert: Instance was added or changed.
	EventUpsert EventType = "upsert"
	// EventDelete: the instance (Instance carries at least id, service, node)
	// is gone.
	EventDelete EventType = "delete"
	// EventReset: Instances is the complete current set; forget everything
	// known before. Sent first on a new stream and whenever the agent cannot
	// replay from the requested index.
	EventReset EventType = "reset"
)

// StreamEvent is one event of GET /v1/stream. Index is the service's index
// after the change; it is also the SSE event id, so a client resumes with
// Last-Event-ID (or ?index=) set to the last index it processed.
type StreamEvent struct {
	Index     uint64     `json:"index"`
	Type      EventType  `json:"type"`
	Instance  *Instance  `json:"instance,omitempty"`
	Instances []Instance `json:"instances,omitempty"`
}

// QueryMeta is what a lookup reports besides the instances.
type QueryMeta struct {
	// Index is the service's index (X-Grapevine-Index): pass it as
	// QueryOptions.Index to block until the result changes.
	Index uint64
}
