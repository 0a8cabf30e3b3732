package agent

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/grapevine-sd/grapevine/api"
	"github.com/grapevine-sd/grapevine/catalog"
)

// streamPing is how often an idle stream sends a comment line, so proxies and
// clients see the connection alive (docs/http.md promises at least every 30 s).
const streamPing = 15 * time.Second

// streamBuffer is how many changes a stream may fall behind before it is
// resynchronised with a reset.
const streamBuffer = 256

// stream serves GET /v1/stream?service=NAME (or every service without NAME) as Server-Sent Events: a reset with
// the whole current set, then one event per change. A client resuming from the
// index it saw last gets nothing it already has; one that fell behind or
// resumes from an index this agent cannot replay gets a reset.
func (h *httpServer) stream(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	for k := range q {
		if k != "service" && k != "index" {
			api.WriteError(w, http.StatusBadRequest, fmt.Sprintf("unknown parameter %q", k))
			return
		}
	}
	// No service: every service (the UI's live view); indexes are then the
	// catalog's global index.
	service := q.Get("service")
	if q.Has("service") && service == "" {
		api.WriteError(w, http.StatusBadRequest, "service is empty (omit it to follow every service)")
		return
	}
	from := q.Get("index")
	if id := r.Header.Get("Last-Event-ID"); id != "" {
		from = id
	}
	var have uint64
	if from != "" {
		var err error
		if have, err = strconv.ParseUint(from, 10, 64); err != nil {
			api.WriteError(w, http.StatusBadRequest, fmt.Sprintf("index %q is not a number", from))
			return
		}
	}
	flusher, ok := w.(http.Flusher)
	if !ok {
		api.WriteError(w, http.StatusInternalServerError, "streaming unsupported")
		return
	}
	ctx, cancel := h.a.requestContext(r.Context())
	defer cancel()

	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.Header().Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodHead {
		return // the header is the whole answer; a stream of nothing would never end
	}

	ping := time.NewTicker(streamPing)
	defer ping.Stop()
	for {
		// Subscribe first, then read: no change falls between the two.
		sub := h.a.cat.Subscribe(service, streamBuffer)
		last, err := h.resync(w, service, have)
		if err != nil {
			sub.Cancel()
			return
		}
		flusher.Flush()
		err = h.follow(ctx, w, flusher, sub, ping, &last)
		sub.Cancel()
		if !errors.Is(err, catalog.ErrSlowSubscriber) {
			return
		}
		have = 0 // fell behind: start over with a reset
	}
}

// resync sends a reset unless the client already holds the current index.
func (h *httpServer) resync(w http.ResponseWriter, service string, have uint64) (uint64, error) {
	if service == "" {
		return h.resyncAll(w, have)
	}
	res := h.a.cat.Service(service, catalog.Filter{Health: catalog.HealthAny})
	if have != 0 && have == res.Index {
		return res.Index, nil
	}
	ev := api.StreamEvent{Index: res.Index, Type: api.EventReset}
	for _, e := range res.Entries {
		ev.Instances = append(ev.Instances, h.a.toAPI(e))
	}
	return res.Index, api.WriteEvent(w, ev)
}

// resyncAll is resync for the stream of every service. The global index is
// read before the services: every change at or below it is in what is read,
// and one that lands in between is also sent as an event (upserts and deletes
// apply idempotently).
func (h *httpServer) resyncAll(w http.ResponseWriter, have uint64) (uint64, error) {
	index := h.a.cat.GlobalIndex()
	if have != 0 && have == index {
		return index, nil
	}
	ev := api.StreamEvent{Index: index, Type: api.EventReset, Instances: []api.Instance{}}
	for _, s := range h.a.cat.Services() {
		for _, e := range h.a.cat.Service(s.Name, catalog.Filter{Health: catalog.HealthAny}).Entries {
			ev.Instances = append(ev.Instances, h.a.toAPI(e))
		}
	}
	return index, api.WriteEvent(w, ev)
}

// follow writes the subscription's changes until the client or the agent goes
// away (nil) or the subscription is dropped (its error).
func (h *httpServer) follow(ctx context.Context, w http.ResponseWriter, f http.Flusher, sub *catalog.Subscription, ping *time.Ticker, last *uint64) error {
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-ping.C:
			streamWriteDeadline(w)
			if _, err := fmt.Fprint(w, ": ping\n\n"); err != nil {
				return nil
			}
			f.Flush()
		case ch, ok := <-sub.C:
			if !ok {
				return sub.Err()
			}
			if ch.Index <= *last {
				continue
			}
			inst := h.a.toAPI(ch.Entry)
			typ := api.EventUpsert
			if ch.Type == catalog.ChangeDelete {
				typ = api.EventDelete
			}
			streamWriteDeadline(w)
			if err := api.WriteEvent(w, api.StreamEvent{Index: ch.Index, Type: typ, Instance: &inst}); err != nil {
				return nil
			}
			*last = ch.Index
			f.Flush()
		}
	}
}

// streamWriteDeadline gives the next write of a stream two ping intervals: a
// client that stops reading is dropped then, instead of holding the
// connection for the life of the stream.
func streamWriteDeadline(w http.ResponseWriter) {
	_ = http.NewResponseController(w).SetWriteDeadline(time.Now().Add(2 * streamPing))
}
