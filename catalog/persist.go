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

	"github.com/grapevine-sd/grapevine/internal/atomicfile"
	"github.com/grapevine-sd/grapevine/internal/safefile"
)

// Files in Config.DataDir (docs/catalog.md, "Persistence").
const (
	epochFile = "epoch.json"
	// regsFile is the snapshot of the API registrations with their check
	// definitions; logFile the changes since, appended one line each.
	regsFile = "registrations.json"
	logFile  = "registrations.log"
	// legacyChecksFile held the check definitions before format 2 (written by
	// the agent); it is read once, folded into regsFile, and removed.
	legacyChecksFile = "checks.json"
	fileMode         = 0o600
	maxFile          = 64 << 20 // a data file larger than this is treated as corrupt
)

// Formats of the data files. registrations.json format 2 carries each
// registration's check definitions; format 1 (kept in checks.json) is read.
const (
	epochFormat    = 1
	regsFormat     = 2
	regsFormatMin  = 1
	logFormat      = 1
	persistFormat  = epochFormat
	legacyChecksAt = 1 // the registrations format whose checks live in checks.json
)

type epochDoc struct {
	Format int    `json:"format"`
	Epoch  uint64 `json:"epoch"`
}

type regDoc struct {
	Instance    Instance          `json:"instance"`
	Maintenance bool              `json:"maintenance,omitempty"`
	Reason      string            `json:"reason,omitempty"`
	Checks      []json.RawMessage `json:"checks,omitempty"`
}

type regsDoc struct {
	Format        int      `json:"format"`
	Registrations []regDoc `json:"registrations"`
}

// loaded is what load read from the data directory.
type loaded struct {
	epoch uint64
	regs  []*registration
}

// load reads the data directory: it picks and persists the new epoch (above
// the last one and the clock's, see nextEpoch), rebuilds the API
// registrations (snapshot, then the log replayed over it, then check
// definitions from a legacy checks.json), writes them back as one snapshot
// and an empty log, and opens the log for appending.
//
// Every file is read before anything is written, so a file that cannot be
// trusted stops the start with the disk unchanged: a read error (permissions,
// I/O), a newer format or a field this version does not know. Only a
// malformed file (not JSON, wrong shape, format missing) is set aside,
// reported as a warning, and none of it is loaded; a log whose end is an
// unfinished write (a crash while appending, never acknowledged) is loaded up
// to it.
func (c *Catalog) load() (loaded, error) {
	now := c.cfg.Now()
	if c.cfg.DataDir == "" {
		return loaded{epoch: nextEpoch(0, now, randUint64())}, nil
	}
	if err := os.MkdirAll(c.cfg.DataDir, 0o700); err != nil {
		return loaded{}, fmt.Errorf("%w: data dir: %v", ErrPersist, err)
	}
	var aside []string // malformed files, set aside once every read succeeded
	var ed epochDoc
	epochOK, err := c.readDoc(epochFile, &aside, func(b []byte) error {
		if err := decodeDoc(b, &ed, epochFormat, epochFormat); err != nil {
			return err
		}
		if ed.Epoch == 0 {
			return errors.New("epoch 0")
		}
		return nil
	})
	if err != nil {
		return loaded{}, err
	}
	var rd regsDoc
	regsOK, err := c.readDoc(regsFile, &aside, func(b []byte) error { return decodeDoc(b, &rd, regsFormatMin, regsFormat) })
	if err != nil {
		return loaded{}, err
	}
	var recs []logRec
	if _, err := c.readDoc(logFile, &aside, func(b []byte) error {
		var tail int
		recs, tail, err = decodeLog(b)
		if err == nil && tail > 0 {
			c.log.Info().Int("bytes", tail).Msg("ignoring the unfinished last write of the registrations log (never acknowledged)")
		}
		return err
	}); err != nil {
		return loaded{}, err
	}
	// checks.json is read only where the snapshot predates format 2; beside
	// a format 2 snapshot it is a leftover of an interrupted migration.
	legacy := !regsOK || rd.Format == legacyChecksAt
	var checks map[string][]json.RawMessage
	if legacy {
		if _, err := c.readDoc(legacyChecksFile, &aside, func(b []byte) error {
			checks = nil
			if len(b) > maxFile {
				return fmt.Errorf("%d bytes, limit %d", len(b), maxFile)
			}
			return json.Unmarshal(b, &checks)
		}); err != nil {
			return loaded{}, err
		}
	}
	// Before the first write (a file set aside, the new epoch): a second
	// agent on this directory would overwrite the first one's registrations
	// and reuse its epoch. A start refused while reading wrote nothing.
	lock, err := lockDataDir(c.cfg.DataDir)
	if err != nil {
		return loaded{}, err
	}
	c.store.lock = lock
	for _, name := range aside {
		if err := c.setAside(name); err != nil {
			return loaded{}, err
		}
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
	out := loaded{epoch: nextEpoch(ed.Epoch, now, randUint64())}
	if err := c.saveEpoch(out.epoch); err != nil {
		return loaded{}, err
	}
	byID := map[string]regDoc{}
	for _, d := range rd.Registrations {
		byID[d.Instance.ID] = d
	}
	for _, r := range recs {
		if r.Put != nil {
			byID[r.Put.Instance.ID] = *r.Put
		} else {
			delete(byID, r.Del)
		}
	}
	for id, d := range byID {
		if legacy && d.Checks == nil {
			d.Checks = checks[id]
		}
		d.Checks = compactAll(d.Checks)
		in := d.Instance
		in.Node, in.Version = c.cfg.Node, Version{}
		if in.Health == 0 || in.Health == HealthMaintenance {
			in.Health = HealthPassing
		}
		out.regs = append(out.regs, &registration{inst: in, source: SourceAPI, maint: d.Maintenance, reason: d.Reason, checks: d.Checks})
	}
	slices.SortFunc(out.regs, func(a, b *registration) int { return strings.Compare(a.inst.ID, b.inst.ID) })
	// One snapshot of everything, an empty log, and the legacy file gone, in
	// this order: a crash between two steps leaves files that load the same.
	snap, err := encodeSnapshot(out.regs)
	if err == nil {
		err = c.store.reset(snap)
	}
	if err != nil {
		return loaded{}, err
	}
	if err := c.removeLegacy(); err != nil {
		return loaded{}, err
	}
	return out, nil
}

// maxDataFile bounds a data file: far above what the limits let an agent
// write, it only stops a device or a runaway file from exhausting memory.
const maxDataFile = 1 << 30

// readDoc reads data file name and hands its bytes to decode. It returns
// (false, nil) for a missing file, and for a malformed one, which it adds to
// aside with a warning; an error for a file it must not touch: unreadable, of
// a newer format, or with a field this version does not know (written by a
// newer version, most likely). The error wraps ErrPersist.
func (c *Catalog) readDoc(name string, aside *[]string, decode func([]byte) error) (bool, error) {
	path := filepath.Join(c.cfg.DataDir, name)
	b, err := safefile.Read(path, maxDataFile)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("%w: cannot read %s: %v (nothing was changed; fix the file's permissions or the disk, then start again)", ErrPersist, path, err)
	}
	refuse := func(why string) (bool, error) {
		return false, fmt.Errorf("%w: %s: %s; refusing to load or replace it (nothing was changed): run the newer version, or move the file away to start without it", ErrPersist, path, why)
	}
	bad := decode(b)
	var fe formatError
	var ue unknownFieldError
	switch {
	case bad == nil:
		return true, nil
	case errors.As(bad, &fe):
		return refuse(fmt.Sprintf("format %d is newer than this version's %d", fe.got, fe.max))
	case errors.As(bad, &ue):
		return refuse(fmt.Sprintf("unknown field %s", string(ue)))
	}
	c.warn(fmt.Sprintf("corrupt %s (%v); set aside, nothing of it loaded", path, bad))
	*aside = append(*aside, name)
	return false, nil
}

// setAside renames a malformed data file out of the way.
func (c *Catalog) setAside(name string) error {
	path := filepath.Join(c.cfg.DataDir, name)
	to := fmt.Sprintf("%s.corrupt-%d", path, c.cfg.Now().UnixMilli())
	if err := os.Rename(path, to); err != nil {
		return fmt.Errorf("%w: malformed %s cannot be set aside: %v", ErrPersist, path, err)
	}
	c.log.Warn().Str("file", path).Str("moved_to", to).Msg("corrupt data file set aside")
	return nil
}

// removeLegacy removes checks.json once the snapshot holding its content is
// durable.
func (c *Catalog) removeLegacy() error {
	err := os.Remove(filepath.Join(c.cfg.DataDir, legacyChecksFile))
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil
	case err != nil:
		return fmt.Errorf("%w: %v", ErrPersist, err)
	}
	if err := atomicfile.SyncDir(c.cfg.DataDir); err != nil {
		return fmt.Errorf("%w: %v", ErrPersist, err)
	}
	return nil
}

// formatError is a data file's format number above the newest this version
// writes.
type formatError struct{ got, max int }

func (e formatError) Error() string { return fmt.Sprintf("format %d", e.got) }

// unknownFieldError names a field a data file has and this version does not.
type unknownFieldError string

func (e unknownFieldError) Error() string { return "unknown field " + string(e) }

// decodeDoc decodes a data file strictly, accepting formats min..max. It
// returns a formatError or an unknownFieldError for what a newer version may
// have written, any other error for a malformed file.
func decodeDoc(b []byte, v any, minFormat, maxFormat int) error {
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
	case *head.Format > maxFormat:
		return formatError{*head.Format, maxFormat}
	case *head.Format < minFormat:
		return fmt.Errorf("format %d", *head.Format)
	}
	return decodeStrict(b, v)
}

// decodeStrict decodes one JSON value, refusing fields v does not have.
func decodeStrict(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		if f, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
			return unknownFieldError(f)
		}
		return err
	}
	if dec.More() {
		return errors.New("data after the document")
	}
	return nil
}

// saveEpoch persists epoch; a no-op without a data directory.
func (c *Catalog) saveEpoch(epoch uint64) error {
	if c.cfg.DataDir == "" {
		return nil
	}
	return c.writeDoc(epochFile, epochDoc{Format: epochFormat, Epoch: epoch})
}

// writeDoc writes v as JSON atomically (internal/atomicfile).
func (c *Catalog) writeDoc(name string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("%w: encode %s: %v", ErrPersist, name, err)
	}
	b = append(b, '\n')
	if err := atomicfile.Write(filepath.Join(c.cfg.DataDir, name), b, fileMode); err != nil {
		return fmt.Errorf("%w: %v", ErrPersist, err)
	}
	return nil
}

// docOf is the persisted form of an API registration.
func docOf(r *registration) regDoc {
	in := r.inst
	in.Version, in.Output = Version{}, ""
	return regDoc{Instance: in, Maintenance: r.maint, Reason: r.reason, Checks: r.checks}
}

// encodeSnapshot encodes the API registrations among regs as
// registrations.json.
func encodeSnapshot(regs []*registration) ([]byte, error) {
	doc := regsDoc{Format: regsFormat, Registrations: []regDoc{}}
	for _, r := range regs {
		if r.source == SourceAPI {
			doc.Registrations = append(doc.Registrations, docOf(r))
		}
	}
	slices.SortFunc(doc.Registrations, func(a, b regDoc) int { return strings.Compare(a.Instance.ID, b.Instance.ID) })
	b, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("%w: encode %s: %v", ErrPersist, regsFile, err)
	}
	return append(b, '\n'), nil
}

// compactAll returns the JSON values of raw without insignificant space (the
// snapshot is indented, and indents them).
func compactAll(raw []json.RawMessage) []json.RawMessage {
	var out []json.RawMessage
	for _, r := range raw {
		var b bytes.Buffer
		if err := json.Compact(&b, r); err != nil {
			out = append(out, r) // valid JSON by now; kept as it is otherwise
			continue
		}
		out = append(out, b.Bytes())
	}
	return out
}
