package catalog

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// Files in Config.DataDir.
const (
	epochFile = "epoch.json"
	regsFile  = "registrations.json"
	fileMode  = 0o600
	maxFile   = 64 << 20 // a data file larger than this is treated as corrupt
)

// persistFormat is the version of the data files' layout.
const persistFormat = 1

type epochDoc struct {
	Format int    `json:"format"`
	Epoch  uint64 `json:"epoch"`
}

type regDoc struct {
	Instance    Instance `json:"instance"`
	Maintenance bool     `json:"maintenance,omitempty"`
	Reason      string   `json:"reason,omitempty"`
}

type regsDoc struct {
	Format        int      `json:"format"`
	Registrations []regDoc `json:"registrations"`
}

// load reads the data directory: it picks and persists the new epoch (above
// the last one and the clock's, see nextEpoch) and returns the API
// registrations. Both files are read before anything is written, so a file
// that cannot be trusted stops the start with the disk unchanged: a read
// error (permissions, I/O), a newer format or a field this version does not
// know. Only a malformed file (not JSON, wrong shape, format missing) is set
// aside, reported as a warning, and none of it is loaded.
func (c *Catalog) load() (uint64, []*registration, error) {
	now := c.cfg.Now()
	if c.cfg.DataDir == "" {
		return nextEpoch(0, now, randUint64()), nil, nil
	}
	if err := os.MkdirAll(c.cfg.DataDir, 0o700); err != nil {
		return 0, nil, fmt.Errorf("%w: data dir: %v", ErrPersist, err)
	}
	var ed epochDoc
	epochOK, err := c.readDoc(epochFile, &ed, func() error {
		if ed.Epoch == 0 {
			return errors.New("epoch 0")
		}
		return nil
	})
	if err != nil {
		return 0, nil, err
	}
	var rd regsDoc
	regsOK, err := c.readDoc(regsFile, &rd, func() error { return nil })
	if err != nil {
		return 0, nil, err
	}
	if !epochOK {
		ed.Epoch = 0
	}
	if !regsOK {
		rd.Registrations = nil // never load part of a malformed file
	}
	if ahead := time.Duration(epochMilli(ed.Epoch)-now.UnixMilli()) * time.Millisecond; ahead > c.cfg.MaxEpochAhead {
		// The own epoch never decreases, but peers whose clocks are right
		// reject one this far ahead (ErrBadEpoch) until time catches up.
		c.warn(fmt.Sprintf("persisted epoch %d is %v ahead of the clock (more than max epoch ahead %v): if this clock is right, peers reject this agent's records until then; remove %s if the clock was wrong when it was drawn",
			ed.Epoch, ahead.Round(time.Second), c.cfg.MaxEpochAhead, epochFile))
	}
	epoch := nextEpoch(ed.Epoch, now, randUint64())
	if err := c.saveEpoch(epoch); err != nil {
		return 0, nil, err
	}
	var regs []*registration
	for _, d := range rd.Registrations {
		in := d.Instance
		in.Node, in.Version = c.cfg.Node, Version{}
		if in.Health == 0 || in.Health == HealthMaintenance {
			in.Health = HealthPassing
		}
		regs = append(regs, &registration{inst: in, source: SourceAPI, maint: d.Maintenance, reason: d.Reason})
	}
	return epoch, regs, nil
}

// readDoc decodes data file name into v and checks it. It returns (false,
// nil) for a missing file and for a malformed one, which it renames aside
// with a warning; an error for a file it must not touch: unreadable, of a
// newer format, or with a field this version does not know (written by a
// newer version, most likely). The error wraps ErrPersist.
func (c *Catalog) readDoc(name string, v any, check func() error) (bool, error) {
	path := filepath.Join(c.cfg.DataDir, name)
	b, err := os.ReadFile(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("%w: cannot read %s: %v (nothing was changed; fix the file's permissions or the disk, then start again)", ErrPersist, path, err)
	}
	refuse := func(why string) (bool, error) {
		return false, fmt.Errorf("%w: %s: %s; refusing to load or replace it (nothing was changed): run the newer version, or move the file away to start without it", ErrPersist, path, why)
	}
	bad := decodeDoc(b, v, check)
	var fe formatError
	var ue unknownFieldError
	switch {
	case bad == nil:
		return true, nil
	case errors.As(bad, &fe):
		return refuse(fmt.Sprintf("format %d is newer than this version's %d", int(fe), persistFormat))
	case errors.As(bad, &ue):
		return refuse(fmt.Sprintf("unknown field %s", string(ue)))
	}
	aside := fmt.Sprintf("%s.corrupt-%d", path, c.cfg.Now().UnixMilli())
	if rerr := os.Rename(path, aside); rerr != nil {
		return false, fmt.Errorf("%w: malformed %s (%v) and it cannot be set aside: %v", ErrPersist, path, bad, rerr)
	}
	c.warn(fmt.Sprintf("corrupt %s (%v); set aside as %s, nothing of it loaded", path, bad, aside))
	return false, nil
}

// formatError is a data file's format number above persistFormat.
type formatError int

func (e formatError) Error() string { return fmt.Sprintf("format %d", int(e)) }

// unknownFieldError names a field a data file has and this version does not.
type unknownFieldError string

func (e unknownFieldError) Error() string { return "unknown field " + string(e) }

// decodeDoc decodes a data file strictly. It returns a formatError or an
// unknownFieldError for what a newer version may have written, any other
// error for a malformed file.
func decodeDoc(b []byte, v any, check func() error) error {
	if len(b) > maxFile {
		return fmt.Errorf("%d bytes, limit %d", len(b), maxFile)
	}
	if !json.Valid(b) {
		return errors.New("not JSON")
	}
	var head struct {
		Format *int `json:"format"`
	}
	if err := json.Unmarshal(b, &head); err != nil {
		return err
	}
	switch {
	case head.Format == nil:
		return errors.New("no format")
	case *head.Format > persistFormat:
		return formatError(*head.Format)
	case *head.Format != persistFormat:
		return fmt.Errorf("format %d", *head.Format)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		if f, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
			return unknownFieldError(f)
		}
		return err
	}
	return check()
}

// saveEpoch persists epoch; a no-op without a data directory.
func (c *Catalog) saveEpoch(epoch uint64) error {
	if c.cfg.DataDir == "" {
		return nil
	}
	return c.writeDoc(epochFile, epochDoc{Format: persistFormat, Epoch: epoch})
}

// saveRegistrations persists the API registrations as they will be once
// registration id is r (nil: removed). mu held (or New running).
func (c *Catalog) saveRegistrations(id string, r *registration) error {
	if c.cfg.DataDir == "" {
		return nil
	}
	doc := regsDoc{Format: persistFormat, Registrations: []regDoc{}}
	add := func(r *registration) {
		if r.source != SourceAPI {
			return
		}
		in := r.inst
		in.Version, in.Output = Version{}, ""
		doc.Registrations = append(doc.Registrations, regDoc{Instance: in, Maintenance: r.maint, Reason: r.reason})
	}
	for lid, lr := range c.local {
		if lid != id {
			add(lr)
		}
	}
	if r != nil {
		add(r)
	}
	slices.SortFunc(doc.Registrations, func(a, b regDoc) int { return strings.Compare(a.Instance.ID, b.Instance.ID) })
	return c.writeDoc(regsFile, doc)
}

// writeDoc writes v as JSON atomically: a temporary file in the same
// directory, fsync, rename over the target, fsync of the directory.
func (c *Catalog) writeDoc(name string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("%w: encode %s: %v", ErrPersist, name, err)
	}
	b = append(b, '\n')
	if err := writeAtomic(filepath.Join(c.cfg.DataDir, name), b); err != nil {
		return fmt.Errorf("%w: %v", ErrPersist, err)
	}
	return nil
}

func writeAtomic(path string, b []byte) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer os.Remove(tmp) // no-op after the rename
	if err := f.Chmod(fileMode); err != nil {
		f.Close()
		return err
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
