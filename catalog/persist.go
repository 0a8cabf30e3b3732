package catalog

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
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

// load reads the data directory: it picks and persists the new epoch
// (max(last+1, wall clock in Unix milliseconds)) and returns the API
// registrations. Corrupt files are set aside and reported as warnings.
func (c *Catalog) load() (uint64, []*registration, error) {
	now := uint64(max(c.cfg.Now().UnixMilli(), 1))
	if c.cfg.DataDir == "" {
		return now, nil, nil
	}
	if err := os.MkdirAll(c.cfg.DataDir, 0o700); err != nil {
		return 0, nil, fmt.Errorf("%w: data dir: %v", ErrPersist, err)
	}
	var ed epochDoc
	if ok := c.readDoc(epochFile, &ed, func() error {
		if ed.Format != persistFormat || ed.Epoch == 0 {
			return fmt.Errorf("format %d, epoch %d", ed.Format, ed.Epoch)
		}
		return nil
	}); !ok {
		ed.Epoch = 0
	}
	epoch := max(ed.Epoch+1, now)
	if err := c.saveEpoch(epoch); err != nil {
		return 0, nil, err
	}
	var rd regsDoc
	var regs []*registration
	c.readDoc(regsFile, &rd, func() error {
		if rd.Format != persistFormat {
			return fmt.Errorf("format %d", rd.Format)
		}
		return nil
	})
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

// readDoc decodes file into v and checks it; a missing file is not an error.
// A corrupt one is renamed aside and reported; readDoc then returns false.
func (c *Catalog) readDoc(name string, v any, check func() error) bool {
	path := filepath.Join(c.cfg.DataDir, name)
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return false
	}
	if err == nil && len(b) > maxFile {
		err = fmt.Errorf("%d bytes", len(b))
	}
	if err == nil {
		dec := json.NewDecoder(strings.NewReader(string(b)))
		dec.DisallowUnknownFields()
		err = dec.Decode(v)
		if err == nil && dec.More() {
			err = errors.New("trailing data")
		}
	}
	if err == nil {
		err = check()
	}
	if err == nil {
		return true
	}
	aside := fmt.Sprintf("%s.corrupt-%d", path, c.cfg.Now().UnixMilli())
	if rerr := os.Rename(path, aside); rerr != nil {
		c.warn(fmt.Sprintf("corrupt %s (%v); could not set it aside: %v", path, err, rerr))
	} else {
		c.warn(fmt.Sprintf("corrupt %s (%v); set aside as %s", path, err, aside))
	}
	return false
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
