package agent

import (
	"errors"
	"fmt"
	"maps"
	"net/http"
)

// setupHTTPSecurity loads the ACL tokens and the TLS files (New): a missing
// secret file or certificate stops the agent from starting.
func (a *Agent) setupHTTPSecurity() error {
	acl, warns, err := newACL(a.cfg.ACL)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrConfig, err)
	}
	a.acl = acl
	if a.targets, err = a.cfg.CheckTargets.policy(); err != nil {
		return fmt.Errorf("%w: %v", ErrConfig, err)
	}
	for _, w := range warns {
		a.log.Warn().Msg(w)
	}
	if a.cfg.TLS.Enabled() {
		if a.tls, err = newTLSState(a.cfg.TLS); err != nil {
			return fmt.Errorf("%w: %v", ErrConfig, err)
		}
	}
	if a.cfg.HTTP != "" && a.cfg.exposedHTTP() {
		if a.cfg.InsecureHTTP && !a.cfg.TLS.Enabled() {
			a.log.Warn().Str("addr", a.cfg.HTTP).Msg("insecure_http: the HTTP API listens beyond loopback without tokens or TLS; anyone who reaches it can register and deregister services")
		} else {
			a.log.Warn().Str("addr", a.cfg.HTTP).Msg("the HTTP API listens beyond loopback with TLS but without tokens; every client that reaches it can write (enable acl)")
		}
	}
	return nil
}

// reloadSecurity re-reads the acl section of the config file (tokens,
// default policy), the token secret files and the TLS files (SIGHUP). What
// fails to load keeps its previous value: a config file that does not parse
// or an acl section that does not validate leaves every token as it was.
func (a *Agent) reloadSecurity() error {
	var errs []error
	c, err := a.aclConfig()
	var warns []string
	if err == nil {
		warns, err = a.acl.load(c)
	}
	if err != nil {
		errs = append(errs, fmt.Errorf("agent: reload acl (the tokens in force stay): %w", err))
	} else {
		for _, w := range warns {
			a.log.Warn().Msg(w)
		}
		a.log.Info().Int("tokens", len(c.Tokens)).Bool("enabled", c.Enabled).Msg("acl reloaded")
	}
	if a.tls != nil {
		if err := a.tls.reload(); err != nil {
			errs = append(errs, fmt.Errorf("agent: reload %w", err))
		}
	}
	return errors.Join(errs...)
}

// aclConfig is the acl section to load on a reload: the config file's as it
// is now, or the one the agent started with when it has no file.
func (a *Agent) aclConfig() (ACLConfig, error) {
	if a.cfg.ConfigFile == "" {
		return a.cfg.ACL, nil
	}
	c := DefaultConfig()
	if err := c.LoadFile(a.cfg.ConfigFile); err != nil {
		return ACLConfig{}, err
	}
	return c.ACL, nil
}

// authorizeInstance authorizes a write of the local instance id: the token
// must cover the service the instance has now (if it exists) and service
// (the one a registration gives it, "" for none), so a token for one
// service can neither take over nor remove another service's instance.
func (h *httpServer) authorizeInstance(r *http.Request, id, service string) error {
	if e, ok := h.a.cat.Instance(h.a.cfg.Node, id); ok && e.Service != service {
		if err := Authorize(r, e.Service, id); err != nil {
			return err
		}
	}
	if service == "" {
		return nil
	}
	return Authorize(r, service, id)
}

// authorizeCheck authorizes an update of check id: the token must cover the
// service of the instance that owns it.
func (h *httpServer) authorizeCheck(r *http.Request, checkID string) error {
	res, ok := h.a.probes.Status(checkID)
	if !ok {
		return Authorize(r, "", "") // unknown check: only an operator learns so
	}
	service := ""
	if e, ok := h.a.cat.Instance(h.a.cfg.Node, res.Owner); ok {
		service = e.Service
	}
	return Authorize(r, service, res.Owner)
}

// countRejected counts a refused request (grapevine_http_rejected_total).
func (a *Agent) countRejected(reason string) {
	if a.guardMetrics != nil {
		a.guardMetrics.rejected.WithLabelValues(reason).Inc()
	}
}

// reservation is an API registration between its limits check and its
// commit (Agent.inflight).
type reservation struct {
	id     string
	checks int
}

// reserve checks p against the limits, counting the registrations in flight,
// and reserves its place until unreserve. Registrations hold regMu only for
// this, so their commits run concurrently and share the catalog's fsync.
func (a *Agent) reserve(p prepared) (*reservation, error) {
	a.regMu.Lock()
	defer a.regMu.Unlock()
	if err := a.checkLimits(p); err != nil {
		return nil, err
	}
	res := &reservation{id: p.inst.ID, checks: len(p.checks)}
	if a.inflight == nil {
		a.inflight = make(map[*reservation]struct{})
	}
	a.inflight[res] = struct{}{}
	return res, nil
}

func (a *Agent) unreserve(res *reservation) {
	a.regMu.Lock()
	defer a.regMu.Unlock()
	delete(a.inflight, res)
}

// checkLimits refuses p when it would take the agent over limits.instances
// or limits.checks, counting the registrations in flight at their largest.
// regMu held.
func (a *Agent) checkLimits(p prepared) error {
	ids := map[string]bool{}
	for _, r := range a.cat.Registrations() {
		ids[r.Instance.ID] = true
	}
	a.mu.Lock()
	perOwner := make(map[string]int, len(a.checkCount)+len(a.inflight))
	maps.Copy(perOwner, a.checkCount)
	a.mu.Unlock()
	for r := range a.inflight {
		ids[r.id] = true
		perOwner[r.id] = max(perOwner[r.id], r.checks)
	}
	if !ids[p.inst.ID] && len(ids) >= a.cfg.Limits.Instances {
		a.countRejected("instance_limit")
		return fmt.Errorf("%w: this agent holds %d instances, limit %d (limits.instances)", ErrLimit, len(ids), a.cfg.Limits.Instances)
	}
	total := 0
	for owner, n := range perOwner {
		if owner != p.inst.ID {
			total += n
		}
	}
	if total+len(p.checks) > a.cfg.Limits.Checks {
		a.countRejected("check_limit")
		return fmt.Errorf("%w: this agent runs %d checks, limit %d (limits.checks)", ErrLimit, total, a.cfg.Limits.Checks)
	}
	return nil
}
