package api

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"time"
)

// Fingerprint summarizes an agent's replica of the catalog. Every agent
// carries its own in its gossip metadata, so each knows every member's without
// a round trip. Two agents whose Hash is equal hold the same live records; a
// different Hash may only mean a change still propagating (docs/http.md,
// "Convergence").
type Fingerprint struct {
	// Hash is the catalog hash (as CatalogStats.Hash).
	Hash      string `json:"hash"`
	Origins   int    `json:"origins"`
	Instances int    `json:"instances"`
	// Changed is when the hash last changed, by that agent's own clock
	// (informative: agents' clocks are not compared).
	Changed time.Time `json:"changed,omitzero"`
}

// Agreement is how many live members carry the same fingerprint hash as this
// agent (GET /v1/agent/self). It is recomputed every second.
type Agreement struct {
	// Members is the number of live members, this agent included.
	Members int `json:"members"`
	// Agree is how many of them (this agent included) report this agent's hash.
	Agree int `json:"agree"`
	// Unknown is how many live members report no fingerprint (older agents);
	// they count as not agreeing.
	Unknown int `json:"unknown"`
	// Ratio is Agree / Members.
	Ratio float64 `json:"ratio"`
	// Converged is Agree == Members.
	Converged bool `json:"converged"`
	// Since is when Converged last changed: how long the cluster has agreed
	// (or not) as seen from this agent.
	Since time.Time `json:"since,omitzero"`
}

// AgreementSample is one point of GET /v1/agent/agreement.
type AgreementSample struct {
	Time    time.Time `json:"t"`
	Ratio   float64   `json:"ratio"`
	Agree   int       `json:"agree"`
	Members int       `json:"members"`
}

// AgreementHistory is GET /v1/agent/agreement: one sample per second over the
// last five minutes, oldest first.
type AgreementHistory struct {
	Samples []AgreementSample `json:"samples"`
}

// CheckState is one health check of an instance on this agent (GET
// /v1/agent/checks).
type CheckState struct {
	ID string `json:"id"`
	// Name is the check's optional label.
	Name string `json:"name,omitempty"`
	// Instance is the ID of the instance the check belongs to; Service its
	// service.
	Instance string `json:"instance"`
	Service  string `json:"service"`
	Type     string `json:"type"` // http, tcp, exec, ttl, grpc
	// Status is passing, warning or critical (after rise/fall thresholds).
	Status Health `json:"status"`
	// Output is what the latest probe (or TTL update) said.
	Output string `json:"output"`
	// LastRun is when the latest result came in (zero before the first).
	LastRun time.Time `json:"last_run,omitzero"`
	// Successes and Failures count the consecutive passing and non-passing
	// results (one of them is 0).
	Successes int `json:"successes"`
	Failures  int `json:"failures"`
	// Interval between probes, TTL for ttl checks (Go durations, e.g. "10s").
	Interval string `json:"interval,omitempty"`
	TTL      string `json:"ttl,omitempty"`
}

// JoinRequest is the body of PUT /v1/agent/join.
type JoinRequest struct {
	// Addresses to contact ("host:port", gossip port); at least one.
	Addresses []string `json:"addresses"`
}

// JoinResult answers PUT /v1/agent/join.
type JoinResult struct {
	// Contacted is how many of the addresses answered.
	Contacted int `json:"contacted"`
}

// maxJoinAddresses bounds a join request.
const maxJoinAddresses = 16

// DecodeJoinRequest reads a PUT /v1/agent/join body with the limits of
// DecodeRegistration: 1 to 16 non-empty addresses of at most 256 bytes.
func DecodeJoinRequest(r io.Reader) (JoinRequest, error) {
	var j JoinRequest
	if err := decodeStrict(r, MaxRequestBytes, &j); err != nil {
		return JoinRequest{}, fmt.Errorf("join: %w", err)
	}
	if len(j.Addresses) == 0 || len(j.Addresses) > maxJoinAddresses {
		return JoinRequest{}, fmt.Errorf("%w: join: want 1 to %d addresses, got %d", ErrInvalid, maxJoinAddresses, len(j.Addresses))
	}
	for i, a := range j.Addresses {
		if a == "" || len(a) > 256 {
			return JoinRequest{}, fmt.Errorf("%w: join: addresses[%d] is empty or longer than 256 bytes", ErrInvalid, i)
		}
	}
	return j, nil
}

// Agreement returns the agreement ratio's recent history.
func (c *Client) Agreement(ctx context.Context) (AgreementHistory, error) {
	var out AgreementHistory
	_, err := c.call(ctx, request{method: http.MethodGet, path: []string{"v1", "agent", "agreement"}, timeout: c.timeout}, &out)
	return out, err
}

// Checks lists the health checks of this agent's instances, sorted by ID.
func (c *Client) Checks(ctx context.Context) ([]CheckState, error) {
	var out []CheckState
	_, err := c.call(ctx, request{method: http.MethodGet, path: []string{"v1", "agent", "checks"}, timeout: c.timeout}, &out)
	return out, err
}

// Join makes the agent contact the given gossip addresses and merge with the
// cluster they belong to. memberlist bounds each address by its TCP timeout
// (10 s), so the request may take that long per unreachable address.
func (c *Client) Join(ctx context.Context, addrs []string) (JoinResult, error) {
	var out JoinResult
	_, err := c.call(ctx, request{method: http.MethodPut, path: []string{"v1", "agent", "join"}, body: JoinRequest{Addresses: addrs},
		timeout: c.timeout + time.Duration(len(addrs))*10*time.Second}, &out)
	return out, err
}

// ForceLeave marks a failed member as left on every agent, withdrawing its
// records at once. A live member cannot be forced out (409).
func (c *Client) ForceLeave(ctx context.Context, node string) error {
	_, err := c.call(ctx, request{method: http.MethodPut, path: []string{"v1", "agent", "force-leave", node}, timeout: c.timeout}, nil)
	return err
}
