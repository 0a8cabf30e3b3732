package main

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"

	"github.com/grapevine-sd/grapevine/agent/agenttest"
	"github.com/grapevine-sd/grapevine/api"
)

// fakeAgent fakes the agent's HTTP API on 127.0.0.1 with canned data, using
// the api package's server-side helpers, and records the requests it served.
type fakeAgent struct {
	srv *httptest.Server

	mu       sync.Mutex
	requests []string // "METHOD /path?query body"

	instances []api.Instance
	services  []api.ServiceSummary
	members   []api.Member
	// events are sent on every stream after the initial reset; the stream then
	// stays open until the client goes away.
	events []api.StreamEvent
	// streamed is closed when a stream has written its events.
	streamed chan struct{}
}

func newFakeAgent(t *testing.T) *fakeAgent {
	f := &fakeAgent{
		instances: []api.Instance{
			{ID: "web-2", Service: "web", Node: "node-b", Address: "10.0.0.2", Port: 8080, Tags: []string{"v2"}, Meta: map[string]string{"version": "2"}, Zone: "eu-1", Health: api.HealthPassing, Version: api.Version{Epoch: 1, Seq: 4}},
			{ID: "web-1", Service: "web", Node: "node-a", Address: "10.0.0.1", Port: 8080, Tags: []string{"v1", "canary"}, Zone: "eu-1", Health: api.HealthPassing, Version: api.Version{Epoch: 1, Seq: 2}},
			{ID: "web-3", Service: "web", Node: "node-c", Address: "fd00::3", Port: 8080, Health: api.HealthCritical, Output: "connection refused", Version: api.Version{Epoch: 2, Seq: 1}},
			{ID: "web-4", Service: "web", Node: "node-d", Address: "10.0.0.4", Port: 8080, Tags: []string{"v2"}, Zone: "us-1", Health: api.HealthPassing, Stale: true, AgeMillis: 93_500, Version: api.Version{Epoch: 1, Seq: 9}},
			{ID: "db", Service: "db", Node: "node-a", Address: "10.0.0.1", Port: 5432, Health: api.HealthMaintenance, Output: "upgrade", Version: api.Version{Epoch: 1, Seq: 3}},
		},
		services: []api.ServiceSummary{
			{Name: "web", Instances: 4, Passing: 3, Critical: 1, Stale: 1},
			{Name: "db", Instances: 1, Maintenance: 1},
		},
		members: []api.Member{
			{Name: "node-b", Addr: "10.0.0.2", Port: 7946, Status: api.MemberAlive, Zone: "eu-1", RTTMillis: 0.412, Version: "v1.1.0",
				Fingerprint: &api.Fingerprint{Hash: "00000000000000bb", Origins: 3, Instances: 4}, Agrees: new(false)},
			{Name: "node-a", Addr: "10.0.0.1", Port: 7946, Status: api.MemberAlive, Zone: "eu-1", Meta: map[string]string{"rack": "r1"}, Version: "v1.2.0",
				Fingerprint: &api.Fingerprint{Hash: "00000000000000aa", Origins: 3, Instances: 5}, Agrees: new(true)},
			{Name: "node-d", Addr: "10.0.0.4", Port: 7946, Status: api.MemberFailed, Zone: "us-1"},
		},
		streamed: make(chan struct{}),
	}
	mux := http.NewServeMux()
	mux.HandleFunc("PUT /v1/agent/services", f.register)
	mux.HandleFunc("DELETE /v1/agent/services/{id}", f.deregister)
	mux.HandleFunc("PUT /v1/agent/services/{id}/maintenance", f.maintenance)
	mux.HandleFunc("GET /v1/services", func(w http.ResponseWriter, r *http.Request) { api.WriteJSON(w, 200, f.services) })
	mux.HandleFunc("GET /v1/services/{name}", f.lookup)
	mux.HandleFunc("GET /v1/members", func(w http.ResponseWriter, r *http.Request) { api.WriteJSON(w, 200, f.members) })
	mux.HandleFunc("GET /v1/stream", f.stream)
	f.clusterRoutes(mux) // cluster_test.go
	f.srv = httptest.NewServer(f.record(mux))
	t.Cleanup(f.srv.Close)
	return f
}

// record logs each request with its body.
func (f *fakeAgent) record(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(http.MaxBytesReader(w, r.Body, api.MaxRequestBytes))
		r.Body = io.NopCloser(bytes.NewReader(body))
		line := r.Method + " " + r.URL.RequestURI()
		if len(body) > 0 {
			line += " " + string(body)
		}
		f.mu.Lock()
		f.requests = append(f.requests, line)
		f.mu.Unlock()
		next.ServeHTTP(w, r)
	})
}

func (f *fakeAgent) requestLog() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.requests)
}

func (f *fakeAgent) find(id string) (api.Instance, bool) {
	for _, i := range f.instances {
		if i.ID == id && i.Node == "node-a" { // this agent is node-a
			return i, true
		}
	}
	return api.Instance{}, false
}

func (f *fakeAgent) register(w http.ResponseWriter, r *http.Request) {
	reg, err := api.DecodeRegistration(r.Body)
	if err != nil {
		api.WriteError(w, api.StatusCode(err), err.Error())
		return
	}
	addr := reg.Address
	if addr == "" {
		addr = "10.0.0.1"
	}
	api.WriteJSON(w, 200, api.Instance{ID: reg.ID, Service: reg.Name, Node: "node-a", Address: addr, Port: reg.Port, Tags: reg.Tags, Meta: reg.Meta, Zone: "eu-1", Health: api.HealthCritical, Version: api.Version{Epoch: 1, Seq: 10}})
}

func (f *fakeAgent) deregister(w http.ResponseWriter, r *http.Request) {
	if _, ok := f.find(r.PathValue("id")); !ok {
		api.WriteError(w, http.StatusNotFound, fmt.Sprintf("no instance %q on this agent", r.PathValue("id")))
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (f *fakeAgent) maintenance(w http.ResponseWriter, r *http.Request) {
	if _, ok := f.find(r.PathValue("id")); !ok {
		api.WriteError(w, http.StatusNotFound, fmt.Sprintf("no instance %q on this agent", r.PathValue("id")))
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (f *fakeAgent) lookup(w http.ResponseWriter, r *http.Request) {
	opts, err := api.ParseQueryOptions(r.URL.Query())
	if err != nil {
		api.WriteError(w, api.StatusCode(err), err.Error())
		return
	}
	out := []api.Instance{}
	for _, i := range f.instances {
		if i.Service == r.PathValue("name") && opts.Match(i) {
			out = append(out, i)
		}
	}
	w.Header().Set(api.IndexHeader, "42")
	api.WriteJSON(w, 200, out)
}

func (f *fakeAgent) stream(w http.ResponseWriter, r *http.Request) {
	service := r.URL.Query().Get("service")
	var insts []api.Instance
	for _, i := range f.instances {
		if i.Service == service {
			insts = append(insts, i)
		}
	}
	w.Header().Set("Content-Type", api.StreamContentType)
	evs := append([]api.StreamEvent{{Index: 42, Type: api.EventReset, Instances: insts}}, f.events...)
	for _, ev := range evs {
		if err := api.WriteEvent(w, ev); err != nil {
			return
		}
	}
	io.WriteString(w, ": ping\n\n")
	w.(http.Flusher).Flush()
	close(f.streamed)
	<-r.Context().Done()
}

// lockedBuffer is a log sink safe for concurrent writers and a reader.
type lockedBuffer = agenttest.LockedBuffer
