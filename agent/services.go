package agent

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"

	"github.com/grapevine-sd/grapevine/api"
	"github.com/grapevine-sd/grapevine/catalog"
	"github.com/grapevine-sd/grapevine/internal/safefile"
	"github.com/grapevine-sd/grapevine/probe"
	"go.yaml.in/yaml/v3"
)

// Errors of local registration.
var (
	// ErrInvalidRegistration wraps every reason a registration is refused.
	ErrInvalidRegistration = errors.New("agent: invalid registration")
	// ErrNotFound means no local instance or check has the given ID.
	ErrNotFound = errors.New("agent: not found")
	// ErrLimit means a registration would take the agent beyond one of its
	// limits (config limits; HTTP 429).
	ErrLimit = errors.New("agent: limit reached")
	// ErrExecChecksDisabled refuses an exec check over the API (HTTP 403).
	ErrExecChecksDisabled = fmt.Errorf("%w: exec checks are not accepted over the HTTP API; put them in a service definition file in config_dir, or set enable_api_exec_checks: true", ErrForbidden)
)

// prepared is a registration checked in full before anything changes.
type prepared struct {
	inst   catalog.Instance
	checks []probe.Check
	raw    []json.RawMessage
}

// maxChecksBytes bounds the check definitions of one instance (JSON bytes):
// they are kept in memory and in checks.json, so limits.instances times this
// bounds both. Real ones are a few hundred bytes per check.
const maxChecksBytes = 64 << 10

// prepare validates a registration and its checks without changing anything.
// Registrations from the API (src) may not carry exec checks unless
// EnableAPIExecChecks.
func (a *Agent) prepare(reg api.Registration, src catalog.Source) (prepared, error) {
	if reg.ID == "" {
		reg.ID = reg.Name
	}
	p := prepared{raw: reg.Checks}
	p.inst = catalog.Instance{
		ID: reg.ID, Service: reg.Name, Node: a.cfg.Node, Address: reg.Address, Port: reg.Port,
		Tags: reg.Tags, Meta: reg.Meta, Zone: reg.Zone,
		Health: catalog.HealthPassing, // for Validate; apply decides the real one
	}
	if p.inst.Zone == "" {
		p.inst.Zone = a.cfg.Zone
	}
	if err := p.inst.Validate(); err != nil {
		return p, fmt.Errorf("%w: %v", ErrInvalidRegistration, err)
	}
	if n, max := len(reg.Checks), a.cfg.Limits.ChecksPerInstance; n > max {
		a.countRejected("check_limit")
		return p, fmt.Errorf("%w: %d checks, limit %d per instance (limits.checks_per_instance)", ErrInvalidRegistration, n, max)
	}
	size := 0
	for _, raw := range reg.Checks {
		size += len(raw)
	}
	if size > maxChecksBytes {
		a.countRejected("check_limit")
		return p, fmt.Errorf("%w: check definitions of %d bytes, limit %d per instance", ErrInvalidRegistration, size, maxChecksBytes)
	}
	seen := map[string]bool{}
	for i, raw := range reg.Checks {
		c, err := parseCheck(raw, fmt.Sprintf("%s:%d", reg.ID, i+1))
		if err != nil {
			return p, fmt.Errorf("%w: check %d: %v", ErrInvalidRegistration, i+1, err)
		}
		if c.Type == probe.Exec && src != catalog.SourceFile && !a.cfg.EnableAPIExecChecks {
			a.countRejected("exec_checks_disabled")
			return p, fmt.Errorf("check %d: %w", i+1, ErrExecChecksDisabled)
		}
		if src != catalog.SourceFile {
			c.OmitBody = true // the body stays on this host: see probe.Check.OmitBody
			if err := a.targets.restrict(&c); err != nil {
				a.countRejected("check_target")
				return p, fmt.Errorf("%w: check %d: %v", ErrInvalidRegistration, i+1, err)
			}
		}
		if seen[c.ID] {
			return p, fmt.Errorf("%w: check id %q twice", ErrInvalidRegistration, c.ID)
		}
		seen[c.ID] = true
		p.checks = append(p.checks, c)
	}
	return p, nil
}

// parseCheck decodes one check definition, giving it defID when it has no id.
func parseCheck(raw json.RawMessage, defID string) (probe.Check, error) {
	var m map[string]any
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(&m); err != nil || m == nil {
		return probe.Check{}, fmt.Errorf("not a JSON object: %s", bytes.TrimSpace(raw[:min(len(raw), 64)]))
	}
	if id, _ := m["id"].(string); id == "" {
		m["id"] = defID
	}
	b, err := json.Marshal(m)
	if err != nil {
		return probe.Check{}, err
	}
	return probe.ParseCheck(b)
}

// Register registers (or replaces) an instance on this agent from the API; it
// is persisted with its checks before it is acknowledged.
func (a *Agent) Register(reg api.Registration) (catalog.Entry, error) {
	p, err := a.prepare(reg, catalog.SourceAPI)
	if err != nil {
		return catalog.Entry{}, err
	}
	res, err := a.reserve(p)
	if err != nil {
		return catalog.Entry{}, err
	}
	defer a.unreserve(res)
	if err := a.apply(p, catalog.SourceAPI); err != nil {
		return catalog.Entry{}, err
	}
	e, _ := a.cat.Instance(a.cfg.Node, p.inst.ID)
	return e, nil
}

// apply registers a prepared instance: one call to the prober, which checks
// the checks, hands the instance's health to the catalog registration (commit)
// and only then runs them. Health changes after that reach the catalog through
// publishHealth. Nothing changes on an error.
func (a *Agent) apply(p prepared, src catalog.Source) error {
	err := a.probes.Set(p.inst.ID, p.checks, func(h probe.Health) error {
		p.inst.Health, p.inst.Output = toHealth(h.Status), h.Output
		var err error
		if src == catalog.SourceFile {
			err = a.cat.RegisterFile(p.inst)
		} else {
			err = a.cat.RegisterWithChecks(p.inst, p.raw) // persisted together
		}
		if err == nil {
			// Under the instance's lock in probe, as Deregister's delete.
			a.countChecks(p.inst.ID, len(p.checks))
		}
		return err
	})
	if err != nil {
		return a.probeError(p.inst.ID, err)
	}
	return nil
}

// probeError maps an error of probe.Set (or the catalog's, from its commit).
func (a *Agent) probeError(id string, err error) error {
	if errors.Is(err, probe.ErrCheckOwned) || errors.Is(err, probe.ErrInvalidCheck) {
		return fmt.Errorf("%w: %v", ErrInvalidRegistration, err)
	}
	return fmt.Errorf("agent: register %s: %w", id, err)
}

// countChecks records how many checks owner runs (for limits.checks).
func (a *Agent) countChecks(owner string, n int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if n == 0 {
		delete(a.checkCount, owner)
	} else {
		a.checkCount[owner] = n
	}
}

// Deregister removes a local instance and its checks.
// The instance and its checks go together: a registration of the same ID at
// the same time happens wholly before or wholly after.
func (a *Agent) Deregister(id string) error {
	_, err := a.probes.RemoveOwnerWith(id, func() error {
		if err := a.cat.Deregister(id); err != nil {
			return err
		}
		a.mu.Lock()
		delete(a.fileIDs, id)
		delete(a.checkCount, id)
		a.mu.Unlock()
		return nil
	})
	if errors.Is(err, catalog.ErrNotFound) {
		return fmt.Errorf("%w: instance %q", ErrNotFound, id)
	}
	return err
}

// Maintenance puts a local instance in or out of maintenance.
func (a *Agent) Maintenance(id string, on bool, reason string) error {
	err := a.cat.SetMaintenance(id, on, reason)
	if errors.Is(err, catalog.ErrNotFound) {
		return fmt.Errorf("%w: instance %q", ErrNotFound, id)
	}
	return err
}

// UpdateTTL sets a TTL check's status.
func (a *Agent) UpdateTTL(checkID string, status api.Health, output string) error {
	var st probe.Status
	switch status {
	case api.HealthPassing:
		st = probe.Passing
	case api.HealthWarning:
		st = probe.Warning
	case api.HealthCritical:
		st = probe.Critical
	default:
		return fmt.Errorf("%w: ttl status %q", ErrInvalidRegistration, status)
	}
	err := a.probes.UpdateTTL(checkID, st, output)
	switch {
	case errors.Is(err, probe.ErrUnknownCheck):
		return fmt.Errorf("%w: check %q", ErrNotFound, checkID)
	case err != nil:
		return fmt.Errorf("%w: %v", ErrInvalidRegistration, err)
	}
	return nil
}

// publishHealth is the prober's OnHealth: it hands an instance's health (the
// worst of its checks, aggregated by probe) to the catalog. Called in order
// from the prober's notifier goroutine. An instance deregistered meanwhile is
// no error: its checks stop.
func (a *Agent) publishHealth(h probe.Health) {
	err := a.cat.SetHealth(h.Owner, toHealth(h.Status), h.Output)
	if err != nil && !errors.Is(err, catalog.ErrNotFound) && !errors.Is(err, catalog.ErrClosed) {
		a.log.Warn().Err(err).Str("instance", h.Owner).Msg("setting health")
	}
}

// deregisterCritical removes an instance whose check stayed critical for its
// deregister_critical_after.
func (a *Agent) deregisterCritical(r probe.Result) {
	if err := a.Deregister(r.Owner); err != nil && !errors.Is(err, ErrNotFound) {
		a.log.Warn().Err(err).Str("instance", r.Owner).Msg("deregistering critical instance")
		return
	}
	a.log.Info().Str("instance", r.Owner).Str("check", r.CheckID).Msg("deregistered after staying critical")
}

func toHealth(s probe.Status) catalog.Health {
	switch s {
	case probe.Passing:
		return catalog.HealthPassing
	case probe.Warning:
		return catalog.HealthWarning
	}
	return catalog.HealthCritical
}

// restoreChecks restarts the checks of API registrations the catalog restored
// from the data directory.
func (a *Agent) restoreChecks() error {
	var errs []error
	for _, r := range a.cat.Registrations() {
		if r.Source != catalog.SourceAPI {
			continue
		}
		var checks []probe.Check
		for i, raw := range r.Checks {
			c, err := parseCheck(raw, fmt.Sprintf("%s:%d", r.Instance.ID, i+1))
			if err != nil {
				errs = append(errs, fmt.Errorf("instance %s check %d: %w", r.Instance.ID, i+1, err))
				continue
			}
			if c.Type == probe.Exec && !a.cfg.EnableAPIExecChecks {
				errs = append(errs, fmt.Errorf("instance %s check %q not restarted: %w", r.Instance.ID, c.ID, ErrExecChecksDisabled))
				continue
			}
			c.OmitBody = true
			if err := a.targets.restrict(&c); err != nil {
				// Kept (a registration is never lost), critical at every
				// probe with the same reason.
				a.log.Warn().Err(err).Str("instance", r.Instance.ID).Str("check", c.ID).Msg("restored check's target is denied")
			}
			checks = append(checks, c)
		}
		if err := a.probes.Set(r.Instance.ID, checks, nil); err != nil {
			errs = append(errs, fmt.Errorf("instance %s checks not restarted: %w", r.Instance.ID, err))
			continue
		}
		a.countChecks(r.Instance.ID, len(checks))
	}
	return errors.Join(errs...)
}

// Reload re-reads the acl section of Config.ConfigFile, token secret files,
// TLS files and the service definition files of ConfigDir (SIGHUP). Files
// are independent: a file that cannot be
// read or holds an invalid definition is reported by name and keeps what it
// registered before (nothing, at startup); the other files apply.
func (a *Agent) Reload() error {
	return errors.Join(a.reloadSecurity(), a.reloadDefinitions())
}

// reloadDefinitions applies the service definition files of ConfigDir.
func (a *Agent) reloadDefinitions() error {
	if a.cfg.ConfigDir == "" {
		return nil
	}
	a.reloadMu.Lock()
	defer a.reloadMu.Unlock()
	files, err := definitionFiles(a.cfg.ConfigDir)
	if err != nil {
		return err // the directory itself: nothing changes
	}
	next := make(map[string][]prepared, len(files))
	ids := map[string]string{} // instance ID → file
	var errs []error
	claim := func(file string, ps []prepared) error {
		for _, p := range ps {
			if other, dup := ids[p.inst.ID]; dup {
				return fmt.Errorf("%w: instance id %q also in %s", ErrInvalidRegistration, p.inst.ID, other)
			}
		}
		for _, p := range ps {
			ids[p.inst.ID] = file
		}
		next[file] = ps
		return nil
	}
	// Files that applied before claim their instance IDs first, so a new file
	// reusing one is the file reported, not the established one.
	order := slices.Clone(files)
	slices.SortStableFunc(order, func(x, y string) int {
		_, ox := a.fileDefs[x]
		_, oy := a.fileDefs[y]
		switch {
		case ox && !oy:
			return -1
		case oy && !ox:
			return 1
		}
		return 0
	})
	for _, file := range order {
		ps, err := a.prepareFile(file)
		if err == nil {
			err = claim(file, ps)
		}
		if err == nil {
			continue
		}
		if old, ok := a.fileDefs[file]; ok && claim(file, old) == nil {
			err = fmt.Errorf("%w (its previous definitions stay in force)", err)
		}
		errs = append(errs, fmt.Errorf("agent: %s: %w", file, err))
	}
	var ps []prepared
	for _, file := range files {
		ps = append(ps, next[file]...)
	}
	insts := make([]catalog.Instance, 0, len(ps))
	for _, p := range ps {
		insts = append(insts, p.inst)
	}
	if err := a.cat.SyncFiles(insts); err != nil {
		// Some instances did not apply (the quota); the others did. Go on
		// with exactly what the catalog holds, so each of those has its
		// checks running and is tracked as a file instance.
		errs = append(errs, fmt.Errorf("agent: reload: %w", err))
		held := map[string]bool{}
		for _, r := range a.cat.Registrations() {
			if r.Source == catalog.SourceFile {
				held[r.Instance.ID] = true
			}
		}
		notHeld := func(p prepared) bool { return !held[p.inst.ID] }
		ps = slices.DeleteFunc(ps, notHeld)
		for file := range next {
			next[file] = slices.DeleteFunc(next[file], notHeld)
		}
		maps.DeleteFunc(ids, func(id, _ string) bool { return !held[id] })
	}
	a.fileDefs = next
	a.mu.Lock()
	old := a.fileIDs
	a.fileIDs = map[string]bool{}
	for id := range ids {
		a.fileIDs[id] = true
	}
	a.mu.Unlock()
	for id := range old {
		if _, still := ids[id]; !still {
			a.probes.RemoveOwner(id)
			a.countChecks(id, 0)
		}
	}
	for _, p := range ps {
		// Planned in prepareFile; the catalog holds the instance (SyncFiles).
		if err := a.probes.Set(p.inst.ID, p.checks, nil); err != nil {
			errs = append(errs, a.probeError(p.inst.ID, err))
			continue
		}
		a.countChecks(p.inst.ID, len(p.checks))
	}
	a.log.Info().Int("services", len(ps)).Int("files", len(next)).Int("bad_files", len(errs)).Str("dir", a.cfg.ConfigDir).Msg("service definitions loaded")
	return errors.Join(errs...)
}

// prepareFile reads and checks every definition of one file.
func (a *Agent) prepareFile(path string) ([]prepared, error) {
	b, err := safefile.Read(path, maxDefinitionFile)
	if err != nil {
		return nil, err
	}
	regs, err := parseDefinitions(b)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidRegistration, err)
	}
	var ps []prepared
	seen := map[string]bool{}
	for i, r := range regs {
		p, err := a.prepare(r, catalog.SourceFile)
		if err != nil {
			return nil, fmt.Errorf("service %d: %w", i+1, err)
		}
		if seen[p.inst.ID] {
			return nil, fmt.Errorf("%w: instance id %q twice", ErrInvalidRegistration, p.inst.ID)
		}
		seen[p.inst.ID] = true
		// The health the instance has once its checks run (validating them
		// against the running ones), so a reload publishes no passing flap.
		h, err := a.probes.Plan(p.inst.ID, p.checks)
		if err != nil {
			return nil, fmt.Errorf("service %d: %w", i+1, a.probeError(p.inst.ID, err))
		}
		p.inst.Health, p.inst.Output = toHealth(h.Status), h.Output
		ps = append(ps, p)
	}
	return ps, nil
}

// maxDefinitionFile bounds one service definition file.
const maxDefinitionFile = 1 << 20

// definitionFiles lists the *.json, *.yaml and *.yml regular files of dir
// (symbolic links followed), in name order. Anything else (directories,
// FIFOs, devices) is skipped: reading a FIFO would block the reload.
func definitionFiles(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("agent: config dir: %w", err)
	}
	var out []string
	for _, e := range entries {
		ext := filepath.Ext(e.Name())
		if ext != ".json" && ext != ".yaml" && ext != ".yml" {
			continue
		}
		path := filepath.Join(dir, e.Name())
		if fi, err := os.Stat(path); err == nil && !fi.Mode().IsRegular() {
			continue
		}
		out = append(out, path) // a Stat error is reported when the file is read
	}
	return out, nil
}

// parseDefinitions decodes a definition file: JSON or YAML, one object or a
// list. YAML is turned into JSON first, so both obey the HTTP API's strict
// decoder (unknown fields rejected).
func parseDefinitions(b []byte) ([]api.Registration, error) {
	if len(b) > maxDefinitionFile {
		return nil, fmt.Errorf("%d bytes, limit %d", len(b), maxDefinitionFile)
	}
	var doc any
	if err := yaml.Unmarshal(b, &doc); err != nil {
		return nil, err
	}
	js, err := json.Marshal(doc)
	if err != nil {
		return nil, fmt.Errorf("not representable as JSON: %v", err)
	}
	if regs, ok, err := parseConsulDefinitions(js); ok {
		return regs, err
	}
	var items []json.RawMessage
	if t := bytes.TrimSpace(js); len(t) > 0 && t[0] == '[' {
		if err := json.Unmarshal(js, &items); err != nil {
			return nil, err
		}
	} else {
		items = []json.RawMessage{js}
	}
	regs := make([]api.Registration, 0, len(items))
	for i, it := range items {
		r, err := api.DecodeRegistration(bytes.NewReader(it))
		if err != nil {
			return nil, fmt.Errorf("service %d: %v", i+1, err)
		}
		regs = append(regs, r)
	}
	return regs, nil
}

// registerDemo registers the dev mode's demo service: the agent's own HTTP API
// at addr (where it listens, the port the kernel chose for port 0),
// health-checked over HTTP.
func (a *Agent) registerDemo(addr string) error {
	host, port, _ := splitHostPort(addr, false)
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "127.0.0.1"
	}
	// With tokens on, the check reads the public /ui (it has no token); with
	// TLS it speaks https to its own certificate.
	scheme, path, skip := "http", "/v1/agent/self", false
	if a.cfg.ACL.Enabled {
		path = "/ui"
	}
	if a.cfg.TLS.Enabled() {
		scheme, skip = "https", true
	}
	check := fmt.Sprintf(`{"type":"http","target":"%s://%s%s","interval":"10s","initial_status":"passing","tls_skip_verify":%v}`, scheme, hostPort(host, port), path, skip)
	_, err := a.Register(api.Registration{
		ID: "demo", Name: "demo", Address: host, Port: port, Tags: []string{"dev"},
		Meta: map[string]string{"about": "the dev agent's own HTTP API"}, Checks: []json.RawMessage{json.RawMessage(check)},
	})
	if err != nil {
		return fmt.Errorf("agent: demo service: %w", err)
	}
	return nil
}
