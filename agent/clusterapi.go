package agent

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/grapevine-sd/grapevine/api"
	"github.com/grapevine-sd/grapevine/gossip"
	"github.com/grapevine-sd/grapevine/probe"
)

// clusterRoute is one route of the cluster view with the ACL policy it
// requires. A public route takes no token: the UI's static files, which hold
// no data (the page fetches everything with the token the user gives it).
type clusterRoute struct {
	pattern string
	policy  Policy
	public  bool
	handler http.HandlerFunc
}

// clusterRoutes are the routes of the convergence view, the per-check state,
// the membership operations and the web console (docs/http.md, docs/ui.md).
func (h *httpServer) clusterRoutes() []clusterRoute {
	return []clusterRoute{
		{pattern: "GET /v1/agent/checks", policy: PolicyRead, handler: h.checks},
		{pattern: "GET /v1/agent/agreement", policy: PolicyRead, handler: h.agreement},
		{pattern: "PUT /v1/agent/join", policy: PolicyOperator, handler: h.join},
		{pattern: "PUT /v1/agent/force-leave/{node}", policy: PolicyOperator, handler: h.forceLeave},
		{pattern: "GET /ui", public: true, handler: h.ui},
		{pattern: "GET /ui/{file...}", public: true, handler: h.uiFile},
	}
}

func (h *httpServer) checks(w http.ResponseWriter, r *http.Request) {
	api.WriteJSON(w, http.StatusOK, h.a.CheckStates())
}

func (h *httpServer) agreement(w http.ResponseWriter, r *http.Request) {
	api.WriteJSON(w, http.StatusOK, h.a.AgreementHistory())
}

func (h *httpServer) join(w http.ResponseWriter, r *http.Request) {
	req, err := api.DecodeJoinRequest(r.Body)
	if err != nil {
		writeErr(w, err)
		return
	}
	n, err := h.a.Join(r.Context(), req.Addresses)
	if err != nil && n == 0 {
		api.WriteError(w, http.StatusBadGateway, err.Error())
		return
	}
	api.WriteJSON(w, http.StatusOK, api.JoinResult{Contacted: n})
}

func (h *httpServer) forceLeave(w http.ResponseWriter, r *http.Request) {
	err := h.a.ForceLeave(r.PathValue("node"))
	switch {
	case err == nil:
		w.WriteHeader(http.StatusNoContent)
	case errors.Is(err, gossip.ErrMemberAlive):
		api.WriteError(w, http.StatusConflict, err.Error())
	case errors.Is(err, gossip.ErrUnknownMember):
		api.WriteError(w, http.StatusNotFound, err.Error())
	case errors.Is(err, gossip.ErrBadMessage):
		api.WriteError(w, http.StatusBadRequest, err.Error())
	default:
		writeErr(w, err)
	}
}

// CheckStates returns the state of every health check of this agent's
// instances, sorted by check ID: the native GET /v1/agent/checks, and the
// one accessor other listeners (the Consul-compatible API) build on.
func (a *Agent) CheckStates() []api.CheckState {
	states := a.probes.States()
	out := make([]api.CheckState, 0, len(states))
	for _, s := range states {
		cs := api.CheckState{
			ID: s.CheckID, Name: s.Name, Instance: s.Owner, Type: string(s.Type),
			Status: api.Health(toHealth(s.Status).String()), Output: s.Output, LastRun: s.Time,
			Successes: s.Successes, Failures: s.Failures,
		}
		if e, ok := a.cat.Instance(a.cfg.Node, s.Owner); ok {
			cs.Service = e.Service
		}
		if s.Interval > 0 && s.Type != probe.TTL {
			cs.Interval = s.Interval.String()
		}
		if s.TTL > 0 {
			cs.TTL = s.TTL.String()
		}
		out = append(out, cs)
	}
	return out
}

// Join contacts the given gossip addresses ("host:port") and merges with the
// cluster they belong to; it returns how many answered.
func (a *Agent) Join(ctx context.Context, addrs []string) (int, error) {
	node := a.Node()
	if node == nil {
		return 0, errors.New("agent: not started")
	}
	n, err := node.Join(ctx, addrs)
	a.log.Info().Strs("addrs", addrs).Int("contacted", n).AnErr("error", err).Msg("join requested")
	return n, err
}

// ForceLeave marks a failed member as left on every agent (gossip.Node.
// ForceLeave): its records are withdrawn at once instead of being served
// stale. A live member cannot be forced out (gossip.ErrMemberAlive).
func (a *Agent) ForceLeave(name string) error {
	node := a.Node()
	if node == nil {
		return errors.New("agent: not started")
	}
	if err := node.ForceLeave(name); err != nil {
		return fmt.Errorf("agent: force-leave: %w", err)
	}
	a.log.Info().Str("member", name).Msg("member forced out")
	return nil
}

// warnings are the operator warnings /v1/agent/self and the UI show: the
// HTTP API exposed beyond loopback without tokens, and the data directory's
// problems (none, or unreadable state).
func (a *Agent) warnings() []string {
	var out []string
	if a.cfg.HTTP != "" && a.cfg.exposedHTTP() && !a.cfg.ACL.Enabled {
		if a.cfg.InsecureHTTP && !a.cfg.TLS.Enabled() {
			out = append(out, "Insecure HTTP: the API listens beyond loopback without tokens or TLS (insecure_http): anyone who reaches it can register and deregister services.")
		} else {
			out = append(out, "The HTTP API listens beyond loopback without tokens: every client that reaches it can write (enable acl).")
		}
	}
	if a.cfg.DataDir == "" {
		out = append(out, "No data directory: registrations made through the API and the epoch do not survive a restart (set -data-dir).")
	}
	for _, w := range a.cat.Warnings() {
		out = append(out, "Data directory: "+w)
	}
	return out
}
