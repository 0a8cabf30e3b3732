package catalog

import (
	"bytes"
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
}

// Register registers (or replaces) a local instance from the API; it is
// persisted before it is applied, so an acknowledged registration survives a
// restart. Node may be empty (it is this agent); Version is ignored; a zero
// Health means passing for a new instance and "unchanged" when replacing;
// Output is truncated to MaxOutputLen. Re-registering an identical instance
// publishes nothing. A maintenance flag on the ID is kept.
func (c *Catalog) Register(inst Instance) error { return c.register(inst, SourceAPI) }

// RegisterFile is Register for an instance from a service definition file: it
// is not persisted (the agent re-reads the files on start and reload).
func (c *Catalog) RegisterFile(inst Instance) error { return c.register(inst, SourceFile) }

func (c *Catalog) register(inst Instance, src Source) error {
	c.mu.Lock()
	b := c.newBatch()
	d, err := c.registerLocked(b, inst, src)
	c.commit(b)
	c.mu.Unlock()
	c.emit(d)
	return err
}

func (c *Catalog) registerLocked(b *batch, inst Instance, src Source) ([]crdt.Delta, error) {
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
	old := c.local[inst.ID]
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
	r := &registration{inst: inst, source: src}
	if old != nil {
		r.maint, r.reason = old.maint, old.reason
	}
	if src == SourceAPI || (old != nil && old.source == SourceAPI) {
		if err := c.saveRegistrations(inst.ID, r); err != nil {
			return nil, err
		}
	}
	c.local[inst.ID] = r
	return c.putLocal(b, r), nil
}

// checkBounds refuses a registration that peers would reject: one record too
// many for this origin, or a record too large even without check output
// (output is cut to fit, see putLocal). mu held.
func (c *Catalog) checkBounds(inst *Instance, added bool) error {
	if added && len(c.local) >= c.cfg.MaxRecordsPerOrigin {
		return fmt.Errorf("%w: %w: this agent holds %d registrations (max %d)", ErrInvalidInstance, ErrOverQuota, len(c.local), c.cfg.MaxRecordsPerOrigin)
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
	var old []byte
	if cur, ok := c.state.Get(c.cfg.Node, eff.ID); ok && !cur.Deleted {
		old = cur.Value
	}
	d := c.state.Put(eff.ID, val)
	c.applyChanges(b, []crdt.Change{{Origin: c.cfg.Node, Key: eff.ID, Seq: d.To, Old: old, New: val}})
	return []crdt.Delta{d}
}

// Deregister removes a local instance (from either source) and tombstones it
// everywhere. ErrNotFound if there is no such local registration.
func (c *Catalog) Deregister(id string) error {
	c.mu.Lock()
	b := c.newBatch()
	d, err := c.deregisterLocked(b, id)
	c.commit(b)
	c.mu.Unlock()
	c.emit(d)
	return err
}

func (c *Catalog) deregisterLocked(b *batch, id string) ([]crdt.Delta, error) {
	if c.closed {
		return nil, ErrClosed
	}
	r := c.local[id]
	if r == nil {
		return nil, fmt.Errorf("%w: %q", ErrNotFound, id)
	}
	if r.source == SourceAPI {
		if err := c.saveRegistrations(id, nil); err != nil {
			return nil, err
		}
	}
	delete(c.local, id)
	d, ok := c.state.Delete(id)
	if !ok {
		return nil, nil
	}
	c.applyChanges(b, []crdt.Change{{Origin: c.cfg.Node, Key: id, Seq: d.To}})
	return []crdt.Delta{d}, nil
}

// SyncFiles makes the file-sourced registrations exactly insts (for start and
// SIGHUP reload): each is registered with RegisterFile semantics, and file
// registrations not among them are deregistered. Unchanged instances publish
// nothing. Errors of single instances are joined; the others are applied.
func (c *Catalog) SyncFiles(insts []Instance) error {
	c.mu.Lock()
	b := c.newBatch()
	var ds []crdt.Delta
	var errs []error
	keep := make(map[string]bool, len(insts))
	for _, in := range insts {
		keep[in.ID] = true
		d, err := c.registerLocked(b, in, SourceFile)
		if err != nil {
			errs = append(errs, fmt.Errorf("instance %q: %w", in.ID, err))
		}
		ds = append(ds, d...)
	}
	for id, r := range c.local {
		if r.source == SourceFile && !keep[id] {
			d, err := c.deregisterLocked(b, id)
			if err != nil {
				errs = append(errs, err)
			}
			ds = append(ds, d...)
		}
	}
	c.commit(b)
	c.mu.Unlock()
	c.emit(ds)
	return errors.Join(errs...)
}

// SetHealth records the check result of a local instance. A health change is
// published (one small delta); an output-only change is kept locally (Local,
// Registrations) and travels with the next published change, so check output
// that varies on every run does not churn the cluster. h must be passing,
// warning or critical. Under maintenance the check health is recorded and
// nothing is published.
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
	r.inst.Output = truncateOutput(output)
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
	if !on {
		reason = ""
	}
	if r.maint == on && r.reason == reason {
		c.mu.Unlock()
		return nil
	}
	next := *r
	next.maint, next.reason = on, reason
	if next.source == SourceAPI {
		if err := c.saveRegistrations(id, &next); err != nil {
			c.mu.Unlock()
			return err
		}
	}
	*r = next
	b := c.newBatch()
	ds := c.putLocal(b, r)
	c.commit(b)
	c.mu.Unlock()
	c.emit(ds)
	return nil
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
		out = append(out, Registration{Instance: in, Source: r.source, CheckHealth: r.inst.Health, Maintenance: r.maint, Reason: r.reason})
	}
	slices.SortFunc(out, func(a, b Registration) int { return strings.Compare(a.Instance.ID, b.Instance.ID) })
	return out
}
