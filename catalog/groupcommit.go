package catalog

import (
	"sync"

	"github.com/grapevine-sd/grapevine/crdt"
)

// Local changes and the disk (docs/catalog.md, "Persistence and locks").
//
// A change of the local registrations is prepared under Catalog.mu against
// the registrations as they will be once every accepted change applies
// (staged, then applied), and queued. One of the waiting writers becomes the
// flusher: it takes the whole queue, releases mu, appends the queue's log
// lines with one write and one fsync, takes mu again and applies the queue
// in order — the crdt, the views, the deltas — then wakes the others. So:
//
//   - no disk I/O happens under mu, which gossip's receive path (Merge)
//     takes;
//   - a change is applied (visible, published) only once it is durable, and
//     acknowledged (the call returns) only after that;
//   - changes that arrive while a flush is on the disk share the next one
//     (group commit): one fsync for all of them;
//   - changes apply in the order they were prepared, the order of the log.
//
// A change that persists nothing (file registrations, no data directory)
// applies at once unless a change of the same ID is queued.

// localOp is one change of one local registration.
type localOp struct {
	id   string
	reg  *registration // the registration after the change; nil: removed
	line []byte        // its log line; nil: nothing to persist
	done bool
	err  error // set when done: the change was not made
}

// localOps is the queue of changes waiting for the disk. Guarded by
// Catalog.mu.
type localOps struct {
	pending  []*localOp          // not yet taken by a flusher
	staged   map[string]*localOp // the newest queued change per ID (pending or flushing)
	flushing bool                // a flusher (or Close) is using the store
	cond     *sync.Cond          // on Catalog.mu: a flush finished
}

func (c *Catalog) initOps() {
	c.ops = localOps{staged: make(map[string]*localOp), cond: sync.NewCond(&c.mu)}
}

// submit makes one change and waits until it is durable and applied (or
// failed: op.err); it returns the deltas to publish. mu held (released while
// waiting).
func (c *Catalog) submit(op *localOp) []crdt.Delta {
	ds := c.stage(op)
	return append(ds, c.wait([]*localOp{op})...)
}

// stage applies op at once when nothing needs to reach the disk first
// (returning the deltas to publish), or queues it. mu held.
func (c *Catalog) stage(op *localOp) []crdt.Delta {
	if op.line == nil && c.ops.staged[op.id] == nil {
		b := c.newBatch()
		ds := c.applyOp(b, op)
		c.commit(b)
		op.done = true
		return ds
	}
	c.ops.pending = append(c.ops.pending, op)
	c.ops.staged[op.id] = op
	return nil
}

// wait flushes or waits for flushes until every op is done, and returns the
// deltas of the flushes this goroutine made, to publish. mu held (released
// while waiting).
func (c *Catalog) wait(ops []*localOp) []crdt.Delta {
	var ds []crdt.Delta
	for _, op := range ops {
		for !op.done {
			if c.ops.flushing || len(c.ops.pending) == 0 {
				c.ops.cond.Wait()
				continue
			}
			ds = append(ds, c.flush()...)
		}
	}
	return ds
}

// flush writes the queued changes to the log (one write, one fsync) without
// mu, then applies them in order. mu held (released during the I/O).
func (c *Catalog) flush() []crdt.Delta {
	batch := c.ops.pending
	c.ops.pending = nil
	c.ops.flushing = true
	var lines []byte
	n := 0
	for _, op := range batch {
		if op.line != nil {
			lines = append(lines, op.line...)
			n++
		}
	}
	var snap []byte
	var err error
	broken := c.store.broken != nil
	if broken && n > 0 {
		// The last append failed: rewrite the log from what is applied
		// (which the failed changes are not) before appending again.
		snap, err = encodeSnapshot(c.localList())
	}
	c.mu.Unlock()
	if err == nil && broken && n > 0 {
		err = c.store.reset(snap)
	}
	if err == nil {
		err = c.store.append(lines, n)
	}
	c.mu.Lock()
	b := c.newBatch()
	var ds []crdt.Delta
	for _, op := range batch {
		if c.ops.staged[op.id] == op {
			delete(c.ops.staged, op.id)
		}
		op.done = true
		if err != nil {
			op.err = err
			continue
		}
		ds = append(ds, c.applyOp(b, op)...)
	}
	c.commit(b)
	if err != nil {
		c.log.Error().Err(err).Int("changes", len(batch)).Msg("persisting registrations failed; the changes were refused")
	}
	if err == nil && c.store.compactDue(len(c.local)) {
		// Fold the log into a new snapshot: still flushing, so no other
		// change reaches the log meanwhile, and what is applied now is
		// exactly what the log holds.
		snap, serr := encodeSnapshot(c.localList())
		c.ops.cond.Broadcast() // this batch is done: its writers may return
		c.mu.Unlock()
		if serr == nil {
			serr = c.store.reset(snap)
		}
		c.mu.Lock()
		if serr != nil {
			c.log.Warn().Err(serr).Msg("compacting the registrations log failed; it keeps growing until the next try")
		}
	}
	c.ops.flushing = false
	c.ops.cond.Broadcast()
	return ds
}

// applyOp makes a durable change visible: the local registrations, the crdt,
// the views. mu held.
func (c *Catalog) applyOp(b *batch, op *localOp) []crdt.Delta {
	if op.reg != nil {
		c.local[op.id] = op.reg
		return c.putLocal(b, op.reg)
	}
	if c.local[op.id] == nil {
		return nil
	}
	delete(c.local, op.id)
	cur, _ := c.state.Get(c.cfg.Node, op.id)
	d, ok := c.state.Delete(op.id)
	if !ok {
		return nil
	}
	c.applyChanges(b, []crdt.Change{{Origin: c.cfg.Node, Key: op.id, Seq: d.To, OldSeq: cur.Seq, Old: cur.Value}})
	return []crdt.Delta{d}
}

// localList returns the applied local registrations. mu held.
func (c *Catalog) localList() []*registration {
	out := make([]*registration, 0, len(c.local))
	for _, r := range c.local {
		out = append(out, r)
	}
	return out
}

// closeStore waits for the flushes in progress, then folds the log into the
// snapshot and closes it. mu held (released during the I/O); closed is set.
func (c *Catalog) closeStore() {
	for c.ops.flushing || len(c.ops.pending) > 0 {
		c.ops.cond.Wait()
	}
	c.ops.flushing = true // for good: the catalog is closed
	if c.cfg.DataDir == "" {
		return
	}
	snap, err := encodeSnapshot(c.localList())
	c.mu.Unlock()
	if err == nil {
		err = c.store.reset(snap)
	}
	c.store.close()
	c.mu.Lock()
	if err != nil {
		c.log.Warn().Err(err).Msg("compacting the registrations log at close failed; it is replayed at the next start")
	}
}
