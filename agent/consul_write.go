package agent

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/grapevine-sd/grapevine/api"
)

// readBody reads a bounded request body.
func readBody(w http.ResponseWriter, r *http.Request) ([]byte, bool) {
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxConsulBody))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			consulError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("request body larger than %d bytes", maxConsulBody))
		} else {
			consulError(w, http.StatusBadRequest, "reading the request body: "+err.Error())
		}
		return nil, false
	}
	return b, true
}

// readObject reads a bounded body holding one JSON object (keys folded).
func readObject(w http.ResponseWriter, r *http.Request) (fields, bool) {
	b, ok := readBody(w, r)
	if !ok {
		return nil, false
	}
	f, err := decodeObject(b)
	if err != nil {
		//lint:ignore ST1005 Consul's own message, which clients match on
		writeConsulErr(w, fmt.Errorf("Request decode failed: %w", err))
		return nil, false
	}
	return f, true
}

// writeConsulErr maps an agent error onto Consul's statuses (plain text).
func writeConsulErr(w http.ResponseWriter, err error) {
	code := http.StatusInternalServerError
	switch {
	case errors.Is(err, ErrNotFound):
		code = http.StatusNotFound
	case errors.Is(err, ErrInvalidRegistration), errors.Is(err, errConsulDef):
		code = http.StatusBadRequest
	}
	consulError(w, code, err.Error())
}

// apiExecChecks reports whether exec (Args) checks may be registered over
// HTTP. They run programs as the agent's user, so by default they come from
// operator-owned files in config_dir only (enable_api_exec_checks).
func (a *Agent) apiExecChecks() bool { return a.cfg.EnableAPIExecChecks }

func (s *consulServer) register(w http.ResponseWriter, r *http.Request, q *consulQuery) {
	f, ok := readObject(w, r)
	if !ok {
		return
	}
	svc, err := parseConsulService(f)
	if err != nil {
		writeConsulErr(w, err)
		return
	}
	if !authorize(w, r, svc.reg.Name, svc.reg.ID) {
		return
	}
	if e, ok := s.a.cat.Instance(s.a.cfg.Node, svc.reg.ID); ok && e.Service != svc.reg.Name && !authorize(w, r, e.Service, svc.reg.ID) {
		return
	}
	if svc.hasExec && !s.a.apiExecChecks() {
		consulError(w, http.StatusForbidden, "Scripts are disabled on this agent: register checks with Args (exec) in a service definition file in config_dir, or set enable_api_exec_checks (docs/consul.md)")
		return
	}
	if _, err := s.a.Register(svc.reg); err != nil {
		writeConsulErr(w, err)
		return
	}
	s.writeOK(w, nil)
}

// localService finds one of this agent's instances and authorizes a write
// to it; false means it answered.
func (s *consulServer) writableInstance(w http.ResponseWriter, r *http.Request, q *consulQuery, id string) bool {
	e, ok := s.a.cat.Instance(s.a.cfg.Node, id)
	if !ok {
		consulError(w, http.StatusNotFound, fmt.Sprintf("Unknown service ID %q", truncateString(id, 256)))
		return false
	}
	return authorize(w, r, e.Service, id)
}

func (s *consulServer) deregister(w http.ResponseWriter, r *http.Request, q *consulQuery) {
	id := r.PathValue("id")
	if !s.writableInstance(w, r, q, id) {
		return
	}
	if err := s.a.Deregister(id); err != nil {
		writeConsulErr(w, err)
		return
	}
	s.writeOK(w, nil)
}

func (s *consulServer) maintenance(w http.ResponseWriter, r *http.Request, q *consulQuery) {
	id := r.PathValue("id")
	if _, ok := q.v["enable"]; !ok {
		consulError(w, http.StatusBadRequest, "Missing value for enable")
		return
	}
	on, err := boolParam(q.v, "enable")
	if err != nil {
		consulError(w, http.StatusBadRequest, "Invalid value for enable: "+err.Error())
		return
	}
	if !s.writableInstance(w, r, q, id) {
		return
	}
	reason := q.v.Get("reason")
	if on && reason == "" {
		reason = "Maintenance mode is enabled for this service, but no reason was provided. This is a default message."
	}
	if err := s.a.Maintenance(id, on, reason); err != nil {
		writeConsulErr(w, err)
		return
	}
	s.writeOK(w, nil)
}

// writableCheck finds a local check and authorizes a write to its
// instance; false means it answered.
func (s *consulServer) writableCheck(w http.ResponseWriter, r *http.Request, q *consulQuery, id string) bool {
	res, ok := s.a.probes.Status(id)
	if !ok {
		consulError(w, http.StatusNotFound, fmt.Sprintf("Unknown check ID %q", truncateString(id, 256)))
		return false
	}
	return s.writableInstance(w, r, q, res.Owner)
}

// checkTTL serves agent/check/pass|warn|fail/:id (?note= is the output).
func (s *consulServer) checkTTL(status api.Health) consulHandler {
	return func(w http.ResponseWriter, r *http.Request, q *consulQuery) {
		id := r.PathValue("id")
		if !s.writableCheck(w, r, q, id) {
			return
		}
		if err := s.a.UpdateTTL(id, status, r.URL.Query().Get("note")); err != nil {
			writeConsulErr(w, err)
			return
		}
		s.writeOK(w, nil)
	}
}

// checkUpdate serves agent/check/update/:id: {"Status": ..., "Output": ...}.
func (s *consulServer) checkUpdate(w http.ResponseWriter, r *http.Request, q *consulQuery) {
	f, ok := readObject(w, r)
	if !ok {
		return
	}
	status, err := f.str("status", "")
	if err == nil {
		var output string
		output, err = f.str("output", "")
		if err == nil {
			err = f.rest("")
		}
		if err == nil {
			switch api.Health(status) {
			case api.HealthPassing, api.HealthWarning, api.HealthCritical:
			default:
				err = fmt.Errorf("%w: Invalid check status: %q", errConsulDef, truncateString(status, 32))
			}
		}
		if err == nil {
			id := r.PathValue("id")
			if !s.writableCheck(w, r, q, id) {
				return
			}
			err = s.a.UpdateTTL(id, api.Health(status), output)
		}
	}
	if err != nil {
		writeConsulErr(w, err)
		return
	}
	s.writeOK(w, nil)
}

// leave makes the agent leave the cluster gracefully, then asks its owner
// (the CLI) to shut it down, as Consul's agent/leave does.
func (s *consulServer) leave(w http.ResponseWriter, r *http.Request, q *consulQuery) {
	ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
	defer cancel()
	if err := s.a.Leave(ctx); err != nil {
		writeConsulErr(w, fmt.Errorf("agent: leave: %w", err))
		return
	}
	s.a.requestShutdown()
	s.writeOK(w, nil)
}

// ShutdownRequested is closed when a client asked the agent to leave and
// shut down (Consul's agent/leave); the agent has already left, its owner
// should Close it.
func (a *Agent) ShutdownRequested() <-chan struct{} {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.shutdown == nil {
		a.shutdown = make(chan struct{})
	}
	return a.shutdown
}

func (a *Agent) requestShutdown() {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.shutdown == nil {
		a.shutdown = make(chan struct{})
	}
	select {
	case <-a.shutdown:
	default:
		close(a.shutdown)
	}
}
