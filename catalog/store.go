package catalog

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"strconv"

	"github.com/grapevine-sd/grapevine/internal/atomicfile"
)

// The registrations log (docs/catalog.md, "Persistence"). registrations.json
// is a snapshot; registrations.log holds the changes made since, one line
// per change:
//
//	crc32c(json) as 8 hex digits, a space, json, a newline
//
// where json is {"put": registration} or {"del": id}, each an absolute state
// of one registration, so replaying the log over the snapshot any number of
// times gives the same registrations. The first line is a header,
// {"format": 1}. A change is acknowledged once its line is written and the
// log fsynced (fdatasync: one disk flush, no directory entry changes);
// concurrent changes share one write and one flush (group commit). A line
// that does not check out ends the log: it can only be a write that a crash
// interrupted, which nobody was told had succeeded.

var crcTable = crc32.MakeTable(crc32.Castagnoli)

// logRec is one line of the log: the header (Format), or one change.
type logRec struct {
	Format int     `json:"format,omitempty"`
	Put    *regDoc `json:"put,omitempty"`
	Del    string  `json:"del,omitempty"`
}

// encodeLine encodes one log line.
func encodeLine(r logRec) ([]byte, error) {
	js, err := json.Marshal(r)
	if err != nil {
		return nil, fmt.Errorf("%w: encode log record: %v", ErrPersist, err)
	}
	out := make([]byte, 0, len(js)+10)
	out = fmt.Appendf(out, "%08x ", crc32.Checksum(js, crcTable))
	out = append(out, js...)
	return append(out, '\n'), nil
}

// errTorn is a line that does not check out: the unfinished last write.
var errTorn = errors.New("torn line")

// decodeLine decodes one line (without its newline): errTorn when its
// checksum or syntax fails; a formatError or unknownFieldError for what a
// newer version wrote; another error for a record of the wrong shape.
func decodeLine(line []byte) (logRec, error) {
	var r logRec
	if len(line) < 10 || line[8] != ' ' {
		return r, errTorn
	}
	sum, err := strconv.ParseUint(string(line[:8]), 16, 32)
	js := line[9:]
	if err != nil || uint32(sum) != crc32.Checksum(js, crcTable) || !json.Valid(js) {
		return r, errTorn
	}
	if err := decodeStrict(js, &r); err != nil {
		return r, err
	}
	return r, nil
}

// decodeLog decodes a log file: its changes in order, and the length of an
// unfinished last write that was ignored. A log a newer version wrote
// returns a formatError or unknownFieldError; a malformed one another error.
func decodeLog(b []byte) (recs []logRec, tail int, err error) {
	if len(b) > maxFile {
		return nil, 0, fmt.Errorf("%d bytes, limit %d", len(b), maxFile)
	}
	for first := true; len(b) > 0; first = false {
		i := bytes.IndexByte(b, '\n')
		if i < 0 {
			if first {
				return nil, 0, errors.New("no header")
			}
			return recs, len(b), nil
		}
		r, err := decodeLine(b[:i])
		switch {
		case first && err != nil:
			return nil, 0, fmt.Errorf("header: %w", err)
		case first && r.Format > logFormat:
			return nil, 0, formatError{r.Format, logFormat}
		case first && (r.Format < 1 || r.Put != nil || r.Del != ""):
			return nil, 0, errors.New("no format in the header")
		case first:
		case errors.Is(err, errTorn):
			return recs, len(b), nil
		case err != nil:
			return nil, 0, fmt.Errorf("line %d: %w", len(recs)+2, err)
		case r.Format != 0 || (r.Put == nil) == (r.Del == ""):
			return nil, 0, fmt.Errorf("line %d: not one put or del", len(recs)+2)
		case r.Put != nil && r.Put.Instance.ID == "":
			return nil, 0, fmt.Errorf("line %d: a registration without id", len(recs)+2)
		default:
			recs = append(recs, r)
		}
		b = b[i+1:]
	}
	return recs, 0, nil
}

// regStore owns the snapshot and log files. Its methods do disk I/O and are
// called without Catalog.mu, by one goroutine at a time (the flusher, see
// localOps.flushing; load and Close).
type regStore struct {
	dir     string   // "" persists nothing
	f       *os.File // the log, open for appending
	records int      // changes in the log since the snapshot
	// broken is set when an append failed: the log's end is unknown, so it
	// is rewritten (snapshot + empty log) before the next append.
	broken  error
	appends uint64 // log appends made (each one write and one fsync)
	// beforeAppend, when set (tests), runs before each append's write.
	beforeAppend func()
	// lock holds the data directory's lock file (see lockDataDir) while the
	// catalog is open; closed with the store.
	lock *os.File
}

// reset makes snapshot the registrations file and starts an empty log: the
// snapshot first (durable), then the log, so that a crash in between leaves
// the old log beside a snapshot that already holds it (replaying it again
// changes nothing).
func (s *regStore) reset(snapshot []byte) error {
	if s.dir == "" {
		return nil
	}
	if err := atomicfile.Write(filepath.Join(s.dir, regsFile), snapshot, fileMode); err != nil {
		return fmt.Errorf("%w: %v", ErrPersist, err)
	}
	head, err := encodeLine(logRec{Format: logFormat})
	if err != nil {
		return err
	}
	path := filepath.Join(s.dir, logFile)
	if err := atomicfile.Write(path, head, fileMode); err != nil {
		return fmt.Errorf("%w: %v", ErrPersist, err)
	}
	if s.f != nil {
		s.f.Close()
		s.f = nil
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		s.broken = err
		return fmt.Errorf("%w: %v", ErrPersist, err)
	}
	s.f, s.records, s.broken = f, 0, nil
	return nil
}

// append writes lines at the end of the log and flushes them to the disk.
func (s *regStore) append(lines []byte, n int) error {
	if s.dir == "" || len(lines) == 0 {
		return nil
	}
	if s.f == nil {
		return fmt.Errorf("%w: registrations log not open: %v", ErrPersist, s.broken)
	}
	if s.beforeAppend != nil {
		s.beforeAppend()
	}
	s.appends++
	_, err := s.f.Write(lines)
	if err == nil {
		err = s.f.Sync()
	}
	if err != nil {
		s.broken = err
		return fmt.Errorf("%w: append to %s: %v", ErrPersist, logFile, err)
	}
	s.records += n
	return nil
}

// compactDue reports whether the log has grown enough to be folded into a
// new snapshot: beyond 1024 changes and four per registration, so the
// snapshot's O(registrations) write is amortized over as many changes.
func (s *regStore) compactDue(regs int) bool {
	return s.dir != "" && s.records > max(1024, 4*regs)
}

func (s *regStore) close() {
	if s.f != nil {
		s.f.Close()
		s.f = nil
	}
	if s.lock != nil {
		s.lock.Close() // releases the flock
		s.lock = nil
	}
}
