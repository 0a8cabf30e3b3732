package gossip

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"sync/atomic"
	"time"

	"github.com/hashicorp/memberlist"
)

// ErrMetaTooLarge is returned by SetMeta for metadata over
// memberlist.MetaMaxSize (512 bytes).
var ErrMetaTooLarge = errors.New("gossip: node metadata too large")

// defaultMetaInterval is Config.MetaInterval's value when it is 0.
const defaultMetaInterval = 2 * time.Second

// metaUpdateWait bounds metaLoop's wait for memberlist to send an update.
const metaUpdateWait = 250 * time.Millisecond

// metaState is the node's own metadata and the counters of its updates.
type metaState struct {
	cur   atomic.Pointer[[]byte] // what NodeMeta hands memberlist
	dirty chan struct{}          // capacity 1: "cur changed since the last broadcast"
	// changes counts SetMeta calls that changed the metadata; broadcasts the
	// memberlist updates (alive messages) they caused after rate limiting.
	changes, broadcasts atomic.Uint64
}

func (m *metaState) init(meta []byte) {
	b := slices.Clone(meta)
	m.cur.Store(&b)
	m.dirty = make(chan struct{}, 1)
}

// MetaStats counts metadata updates since New.
type MetaStats struct {
	// Changes is how many SetMeta calls changed the metadata.
	Changes uint64
	// Broadcasts is how many of them went out as memberlist updates (one alive
	// message each, gossiped to every member): at most one per MetaInterval,
	// the latest value always included.
	Broadcasts uint64
}

// MetaStats returns the metadata update counters.
func (n *Node) MetaStats() MetaStats {
	return MetaStats{Changes: n.meta.changes.Load(), Broadcasts: n.meta.broadcasts.Load()}
}

// Meta is the node's current metadata (a copy).
func (n *Node) Meta() []byte { return slices.Clone(n.localMeta()) }

func (n *Node) localMeta() []byte {
	if p := n.meta.cur.Load(); p != nil {
		return *p
	}
	return nil
}

// SetMeta replaces the node's metadata (at most memberlist.MetaMaxSize bytes)
// and schedules its broadcast. memberlist re-broadcasts metadata only with an
// alive message (UpdateNode), which every member gossips on: so updates are
// rate-limited to one per Config.MetaInterval, and a burst of changes goes out
// as its latest value at the end of the interval (trailing edge). Peers also
// pick the metadata up in memberlist's push/pull. Never blocks.
func (n *Node) SetMeta(meta []byte) error {
	if len(meta) > memberlist.MetaMaxSize {
		return fmt.Errorf("%w: %d bytes, max %d", ErrMetaTooLarge, len(meta), memberlist.MetaMaxSize)
	}
	if n.closed.Load() {
		return ErrClosed
	}
	b := slices.Clone(meta)
	if old := n.meta.cur.Swap(&b); old != nil && bytes.Equal(*old, b) {
		return nil
	}
	n.meta.changes.Add(1)
	select {
	case n.meta.dirty <- struct{}{}:
	default:
	}
	return nil
}

// metaInterval is Config.MetaInterval or its default.
func (n *Node) metaInterval() time.Duration {
	if n.cfg.MetaInterval > 0 {
		return n.cfg.MetaInterval
	}
	return defaultMetaInterval
}

// metaLoop broadcasts metadata changes, at most one per metaInterval.
func (n *Node) metaLoop() {
	interval := n.metaInterval()
	var last time.Time
	for {
		select {
		case <-n.done:
			return
		case <-n.meta.dirty:
		}
		if wait := time.Until(last.Add(interval)); wait > 0 {
			t := time.NewTimer(wait)
			select {
			case <-n.done:
				t.Stop()
				return
			case <-t.C:
			}
		}
		if n.closed.Load() {
			return
		}
		last = time.Now()
		n.meta.broadcasts.Add(1)
		// UpdateNode waits for the broadcast to go out (forever with timeout
		// 0); a short bound keeps Close prompt. A timeout leaves the update
		// queued: not an error.
		if err := n.ml.Load().UpdateNode(min(interval, metaUpdateWait)); err != nil {
			n.log.Debug().Err(err).Msg("metadata update")
		}
	}
}
