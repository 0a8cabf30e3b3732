package main

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/grapevine-sd/grapevine/api"
)

// clusterRoutes adds the fake agent's checks, TTL, join and force-leave.
func (f *fakeAgent) clusterRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /v1/agent/checks", func(w http.ResponseWriter, r *http.Request) {
		api.WriteJSON(w, 200, []api.CheckState{
			{ID: "api-ttl", Instance: "api-1", Service: "api", Type: "ttl", Status: api.HealthWarning, Output: "queue depth 120\nabove 100", LastRun: time.Date(2026, 12, 1, 6, 0, 0, 0, time.UTC), TTL: "1m0s"},
			{ID: "web-1:1", Instance: "web-1", Service: "web", Type: "http", Status: api.HealthPassing, Output: "HTTP 200", LastRun: time.Date(2026, 12, 1, 6, 0, 5, 0, time.UTC), Successes: 12, Interval: "10s"},
			{ID: "db:1", Instance: "db", Service: "db", Type: "tcp", Status: api.HealthCritical, Failures: 3, Interval: "5s"},
		})
	})
	mux.HandleFunc("PUT /v1/agent/checks/{id}/ttl", func(w http.ResponseWriter, r *http.Request) {
		if _, err := api.DecodeTTLUpdate(r.Body); err != nil {
			api.WriteError(w, api.StatusCode(err), err.Error())
			return
		}
		if r.PathValue("id") != "api-ttl" {
			api.WriteError(w, http.StatusNotFound, fmt.Sprintf("agent: not found: check %q", r.PathValue("id")))
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("PUT /v1/agent/join", func(w http.ResponseWriter, r *http.Request) {
		j, err := api.DecodeJoinRequest(r.Body)
		if err != nil {
			api.WriteError(w, api.StatusCode(err), err.Error())
			return
		}
		api.WriteJSON(w, 200, api.JoinResult{Contacted: len(j.Addresses) - 1})
	})
	mux.HandleFunc("PUT /v1/agent/force-leave/{node}", func(w http.ResponseWriter, r *http.Request) {
		switch r.PathValue("node") {
		case "node-d":
			w.WriteHeader(http.StatusNoContent)
		case "node-b":
			api.WriteError(w, http.StatusConflict, "agent: force-leave: gossip: member is alive: node-b")
		default:
			api.WriteError(w, http.StatusNotFound, "agent: force-leave: gossip: no such member: "+r.PathValue("node"))
		}
	})
}

func TestClusterCommandsGolden(t *testing.T) {
	tests := []struct {
		name string
		args []string
		code int
	}{
		{"checks", []string{"checks"}, exitOK},
		{"checks_json", []string{"checks", "-json"}, exitOK},
		{"check_pass", []string{"check", "pass", "api-ttl"}, exitOK},
		{"check_warn_note", []string{"check", "warn", "api-ttl", "-note", "queue depth 120"}, exitOK},
		{"check_fail_unknown", []string{"check", "fail", "nope"}, exitFailure},
		{"check_no_id", []string{"check", "pass"}, exitUsage},
		{"join", []string{"join", "10.0.0.7:7946", "10.0.0.8:7946"}, exitOK},
		{"join_none", []string{"join"}, exitUsage},
		{"force_leave", []string{"force-leave", "node-d"}, exitOK},
		{"force_leave_alive", []string{"force-leave", "node-b"}, exitFailure},
		{"force_leave_no_node", []string{"force-leave"}, exitUsage},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { runGolden(t, tt.name, tt.args, tt.code) })
	}
}
