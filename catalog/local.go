package catalog

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/grapevine-sd/grapevine/crdt"
)

// Source says where a local registration came from.
type Source uint8

// Sources. API registrations are persisted in the data directory; file
// registrations are not (the agent re-reads its service definition files).
const (
	SourceAPI Source = iota + 1
	SourceFile
)

// String returns "api" or "file".
func (s Source) String() string {
	switch s {
	case SourceAPI:
		return "api"
	case SourceFile:
		return "file"
	}
	return "unknown"
}

// MarshalText implements encoding.TextMarshaler.
func (s Source) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (s *Source) UnmarshalText(b []byte) error {
	switch string(b) {
	case "api":
		*s = SourceAPI
	case "file":
		*s = SourceFile
	default:
		return fmt.Errorf("catalog: unknown source %q", b)
	}
	return nil
}

// registration is a local instance as its owner keeps it.
type registration struct {
	inst   Instance // Health is the check health; Output the latest check output
	source Source
	maint  bool
	reason string
	checks []json.RawMessage // the check definitions, opaque, persisted with it
}

// effective is the instance as published: maintenance overrides the check
// health, and its reason replaces the output.
func (r *registration) effective() Instance {
	in := r.inst
	in.Version = Version{}
	if r.maint {
		in.Health = HealthMaintenance
		in.Output = r.reason
	}
	return in
}

// Registration is a local registration as the owner holds it.
type Registration struct {
	Instance    Instance `json:"instance"` // as published (effective health), with its Version
	Source      Source   `json:"source"`
	CheckHealth Health   `json:"check_health"` // health from checks, under maintenance too
	Maintenance bool     `json:"maintenance"`
	Reason      string   `json:"reason,omitempty"`
	// Checks are the check definitions registered with it
	// (RegisterWithChecks), persisted with it, for the agent to restart.
	// Not in JSON: definitions may hold secrets (headers), and no endpoint
	// needs them.
	Checks []json.RawMessage `json:"-"`
}

// Register registers (or replaces) a local instance from the API; it is
// persisted before it is applied, so an acknowledged registration survives a
// restart. Node may be empty (it is this agent); Version is ignored; a zero
// Health means passing for a new instance and "unchanged" when replacing;
// Output is truncated to MaxOutputLen. Re-registering an identical instance
// publishes nothing. A maintenance flag on the ID is kept.
func (c *Catalog) Register(inst Instance) error { return c.register(inst, SourceAPI, nil) }

// RegisterWithChecks is Register keeping the instance's check definitions
// with it (opaque to the catalog: the agent's JSON), persisted in the same
// write, returned by Registrations.
func (c *Catalog) RegisterWithChecks(inst Instance, checks []json.RawMessage) error {
	return c.register(inst, SourceAPI, checks)
}

// RegisterFile is Register for an instance from a service definition file: it
// is not persisted (the agent re-reads the files on start and reload).
func (c *Catalog) RegisterFile(inst Instance) error { return c.register(inst, SourceFile, nil) }

func (c *Catalog) register(inst Instance, src Source, checks []json.RawMessage) error {
	return c.makeChange(func() (*localOp, error) { return c.prepareRegister(inst, src, checks) })
}

// makeChange makes the change of one local registration that prepare returns
// under mu (none if it returns nil), waits until it is durable and applied,
// and publishes it.
func (c *Catalog) makeChange(prepare func() (*localOp, error)) error {
	c.mu.Lock()
	op, err := prepare()
	var ds []crdt.Delta
	if err == nil && op != nil {
		ds = c.submit(op)
		err = op.err
	}
	c.mu.Unlock()
	c.emit(ds)
	return err
}

// cur is local registration id as the next change sees it: staged (accepted,
// not yet durable) or applied. mu held.
func (c *Catalog) cur(id string) *registration {
	if op, ok := c.ops.staged[id]; ok {
		return op.reg
	}
	return c.local[id]
}

// localCount is the number of local registrations once the staged changes
// apply. mu held.
func (c *Catalog) localCount() int {
	n := len(c.local)
	for id, op := range c.ops.staged {
		_, applied := c.local[id]
		switch {
		case op.reg != nil && !applied:
			n++
		case op.reg == nil && applied:
			n--
		}
	}
	return n
}

// prepareRegister checks a registration and builds the change that makes
// it. mu held.
func (c *Catalog) prepareRegister(inst Instance, src Source, checks []json.RawMessage) (*localOp, error) {
	if c.closed {
		return nil, ErrClosed
	}
	if inst.Node == "" {
		inst.Node = c.cfg.Node
	}
	if inst.Node != c.cfg.Node {
		return nil, fmt.Errorf("%w: node %q is not this agent (%q)", ErrInvalidInstance, inst.Node, c.cfg.Node)
	}
	inst.Version = Version{}
	inst.Output = truncateOutput(inst.Output)
	inst.Tags = slices.Clone(inst.Tags) // the caller keeps its slices
	if inst.Meta != nil {
		m := make(map[string]string, len(inst.Meta))
		for k, v := range inst.Meta {
			m[k] = v
		}
		inst.Meta = m
	}
	old := c.cur(inst.ID)
	if inst.Health == 0 {
		inst.Health = HealthPassing
		if old != nil {
			inst.Health = old.inst.Health
		}
	}
	if inst.Health == HealthMaintenance {
		return nil, fmt.Errorf("%w: health maintenance is set with SetMaintenance", ErrInvalidInstance)
	}
	if err := inst.Validate(); err != nil {
		return nil, err
	}
	if err := c.checkBounds(&inst, old == nil); err != nil {
		return nil, err
	}
	for i, raw := range checks {
		if !json.Valid(raw) {
			return nil, fmt.Errorf("%w: check definition %d is not JSON", ErrInvalidInstance, i+1)
		}
	}
	r := &registration{inst: inst, source: src, checks: slices.Clone(checks)}
	if old != nil {
		r.maint, r.reason = old.maint, old.reason
	}
	return c.newOp(inst.ID, old, r)
}

// newOp builds the change of registration id from old to r (nil: removed),
// with the log line that persists it when an API registration is involved
// and its persisted form changes. mu held.
func (c *Catalog) newOp(id string, old, r *registration) (*localOp, error) {
	op := &localOp{id: id, reg: r}
	if c.cfg.DataDir == "" {
		return op, nil
	}
	var rec logRec
	switch {
	case r != nil && r.source == SourceAPI:
		d := docOf(r)
		rec.Put = &d
	case old != nil && old.source == SourceAPI:
		rec.Del = id
	default:
		return op, nil
	}
	line, err := encodeLine(rec)
	if err != nil {
		return nil, err
	}
	if old != nil && old.source == SourceAPI && r != nil {
		if prev, err := encodeLine(logRec{Put: ptr(docOf(old))}); err == nil && bytes.Equal(prev, line) {
			return op, nil // persisted as it is
		}
	}
	op.line = line
	return op, nil
}

func ptr[T any](v T) *T { return &v }

// checkBounds refuses a registration that peers would reject: one record too
// many for this origin, or a record too large even without check output
// (output is cut to fit, see putLocal). mu held.
func (c *Catalog) checkBounds(inst *Instance, added bool) error {
	if n := c.localCount(); added && n >= c.cfg.MaxRecordsPerOrigin {
		return fmt.Errorf("%w: %w: this agent holds %d registrations (max %d)", ErrInvalidInstance, ErrOverQuota, n, c.cfg.MaxRecordsPerOrigin)
	}
	bare := *inst
	bare.Output = ""
	if n := len(encodeValue(&bare)) + outputReserve; n > c.cfg.MaxValueBytes {
		return fmt.Errorf("%w: %w: its record takes %d bytes with %d of check output (max %d)", ErrInvalidInstance, ErrTooLarge, n, outputReserve, c.cfg.MaxValueBytes)
	}
	return nil
}

// outputReserve is the room a registration must leave under MaxValueBytes for
// check output (or a maintenance reason).
const outputReserve = 256

// encodeLocal encodes an own record, cutting its output so that the record
// fits Config.MaxValueBytes. mu held.
func (c *Catalog) encodeLocal(in *Instance) []byte {
	val := encodeValue(in)
	if over := len(val) - c.cfg.MaxValueBytes; over > 0 && in.Output != "" {
		cut := *in
		cut.Output = truncateTo(in.Output, max(0, len(in.Output)-over-8))
		val = encodeValue(&cut)
	}
	return val
}

// putLocal writes r's effective instance into the crdt unless it holds it
// already; it returns the delta to publish. mu held.
func (c *Catalog) putLocal(b *batch, r *registration) []crdt.Delta {
	eff := r.effective()
	val := c.encodeLocal(&eff)
	if cur, ok := c.state.Get(c.cfg.Node, eff.ID); ok && !cur.Deleted && bytes.Equal(cur.Value, val) {
		return nil
	}
	ch := crdt.Change{Origin: c.cfg.Node, Key: eff.ID, New: val}
	if cur, ok := c.state.Get(c.cfg.Node, eff.ID); ok && !cur.Deleted {
		ch.Old, ch.OldSeq = cur.Value, cur.Seq
	}
	d := c.state.Put(eff.ID, val)
	ch.Seq = d.To
	c.applyChanges(b, []crdt.Change{ch})
	return []crdt.Delta{d}
}

// Deregister removes a local instance (from either source) and tombstones it
// everywhere. ErrNotFound if there is no such local registration.
func (c *Catalog) Deregister(id string) error {
	return c.makeChange(func() (*localOp, error) { return c.prepareDeregister(id) })
}

func (c *Catalog) prepareDeregister(id string) (*localOp, error) {
	if c.closed {
		return nil, ErrClosed
	}
	old := c.cur(id)
	if old == nil {
		return nil, fmt.Errorf("%w: %q", ErrNotFound, id)
	}
	return c.newOp(id, old, nil)
}

// SyncFiles makes the file-sourced registrations exactly insts (for start and
// SIGHUP reload): each is registered with RegisterFile semantics, and file
// registrations not among them are deregistered. Unchanged instances publish
// nothing. Errors of single instances are joined; the others are applied.
func (c *Catalog) SyncFiles(insts []Instance) error {
	c.mu.Lock()
	var ops []*localOp
	var ds []crdt.Delta
	var errs []error
	keep := make(map[string]bool, len(insts))
	for _, in := range insts {
		keep[in.ID] = true
	}
	// The instances that go are staged before those that come, so they do
	// not count against the quota of the new ones (a config_dir swapped whole).
	// File registrations no longer defined, as the next change sees them
	// (applied, or replaced by a queued change).
	var gone []string
	isGone := func(id string) bool {
		r := c.cur(id)
		return r != nil && r.source == SourceFile && !keep[id]
	}
	for id := range c.local {
		if isGone(id) {
			gone = append(gone, id)
		}
	}
	for id := range c.ops.staged {
		if _, applied := c.local[id]; !applied && isGone(id) {
			gone = append(gone, id)
		}
	}
	for _, id := range gone {
		op, err := c.prepareDeregister(id)
		if err == nil {
			ds = append(ds, c.stage(op)...)
			ops = append(ops, op)
		} else {
			errs = append(errs, err)
		}
	}
	for _, in := range insts {
		op, err := c.prepareRegister(in, SourceFile, nil)
		if err == nil {
			ds = append(ds, c.stage(op)...)
			ops = append(ops, op)
		} else {
			errs = append(errs, fmt.Errorf("instance %q: %w", in.ID, err))
		}
	}
	ds = append(ds, c.wait(ops)...)
	for _, op := range ops {
		if op.err != nil {
			errs = append(errs, fmt.Errorf("instance %q: %w", op.id, op.err))
		}
	}
	c.mu.Unlock()
	c.emit(ds)
	return joinSome(errs, maxJoinedErrors)
}

// maxJoinedErrors bounds the errors SyncFiles reports one by one: a
// definition file of thousands of instances over the quota must not turn
// into one log line of thousands.
const maxJoinedErrors = 10

// joinSome joins the first n of errs and counts the rest.
func joinSome(errs []error, n int) error {
	if len(errs) <= n {
		return errors.Join(errs...)
	}
	return errors.Join(append(errs[:n:n], fmt.Errorf("and %d more like these", len(errs)-n))...)
}

// SetHealth records the check result of a local instance. A health change is
// published (one small delta); an output-only change is kept locally (Local,
// Registrations) and travels with the next published change, so check output
// that varies on every run does not churn the cluster. h must be passing,
// warning or critical. Under maintenance the check health is recorded and
// nothing is published. It writes nothing to disk.
func (c *Catalog) SetHealth(id string, h Health, output string) error {
	if h != HealthPassing && h != HealthWarning && h != HealthCritical {
		return fmt.Errorf("%w: SetHealth with %v (want passing, warning or critical)", ErrInvalidInstance, h)
	}
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return ErrClosed
	}
	r := c.local[id]
	if r == nil {
		c.mu.Unlock()
		return fmt.Errorf("%w: %q", ErrNotFound, id)
	}
	output = truncateOutput(output)
	if op := c.ops.staged[id]; op != nil && op.reg != nil {
		// A replacement waits for the disk: it keeps this result.
		op.reg.inst.Health, op.reg.inst.Output = h, output
	}
	r.inst.Output = output
	var ds []crdt.Delta
	b := c.newBatch()
	if r.inst.Health != h {
		r.inst.Health = h
		if !r.maint {
			ds = c.putLocal(b, r)
		}
	}
	c.commit(b)
	c.mu.Unlock()
	c.emit(ds)
	return nil
}

// SetMaintenance puts a local instance in or out of maintenance. In
// maintenance it is published with health maintenance and reason as output;
// out of it, with its check health again. The flag is persisted with API
// registrations.
func (c *Catalog) SetMaintenance(id string, on bool, reason string) error {
	reason = truncateOutput(strings.TrimSpace(reason))
	if !on {
		reason = ""
	}
	return c.makeChange(func() (*localOp, error) {
		if c.closed {
			return nil, ErrClosed
		}
		r := c.cur(id)
		if r == nil {
			return nil, fmt.Errorf("%w: %q", ErrNotFound, id)
		}
		if r.maint == on && r.reason == reason {
			return nil, nil
		}
		next := *r
		next.maint, next.reason = on, reason
		return c.newOp(id, r, &next)
	})
}

// Local returns this agent's instances as published (effective health), with
// the latest check output and their Version, sorted by ID.
func (c *Catalog) Local() []Instance {
	regs := c.Registrations()
	out := make([]Instance, len(regs))
	for i, r := range regs {
		out[i] = r.Instance
	}
	return out
}

// Registrations returns the local registrations with their source and
// maintenance state, sorted by ID.
func (c *Catalog) Registrations() []Registration {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]Registration, 0, len(c.local))
	for id, r := range c.local {
		in := r.effective()
		if r.maint {
			in.Output = r.reason
		} else {
			in.Output = r.inst.Output
		}
		if cur, ok := c.state.Get(c.cfg.Node, id); ok {
			in.Version = Version{Epoch: c.state.Position(c.cfg.Node).Epoch, Seq: cur.Seq}
		}
		out = append(out, Registration{Instance: in, Source: r.source, CheckHealth: r.inst.Health, Maintenance: r.maint, Reason: r.reason, Checks: slices.Clone(r.checks)})
	}
	slices.SortFunc(out, func(a, b Registration) int { return strings.Compare(a.Instance.ID, b.Instance.ID) })
	return out
}
