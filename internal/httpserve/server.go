// Package httpserve serves HTTP/1.1 on a listener: the connection loop of the
// agent's HTTP API, written for a registry's workload (many small answers
// from memory over kept-alive connections, a few long blocking queries and
// event streams).
//
// Requests are parsed by net/http's own parser (http.ReadRequest) and handled
// by an http.Handler, so routing, handlers and the request a handler sees are
// net/http's. What differs from http.Server is the loop around them, built to
// cost little per request:
//
//   - An answer the handler finishes without flushing goes out in one write,
//     with a Content-Length; one that flushes or outgrows the buffer is sent
//     chunked (close-delimited to HTTP/1.0 clients).
//   - A request's context notices a client that went away only once a handler
//     asks for it (calls Done): only then does a read wait on the connection
//     in the background. http.Server starts that read, on a goroutine of its
//     own, for every request.
//
// The bounds are http.Server's: a header must arrive within HeaderTimeout of
// the request's first byte (of the accept, for the first request) and be at
// most MaxHeaderBytes; the header's deadline bounds the request body too,
// unless the handler sets a read deadline of its own; an answer must be
// written within WriteTimeout of the end of its header (a handler may move
// either deadline with http.ResponseController); a kept-alive connection
// waits IdleTimeout for the next request. The checks on a request are net/http's server's (Host,
// header names and values, transfer codings, Expect), answered the same way:
// 400, 431, 501, 505 or 417 and the connection closed. A handler that panics
// costs its connection (a 500 if nothing was sent yet), never the process.
//
// Not offered, as the agent needs none of it: HTTP/2, Hijack, trailers,
// full-duplex handlers, connection state hooks.
package httpserve

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"
)

// ErrServerClosed is what Serve returns after Shutdown or Close.
var ErrServerClosed = http.ErrServerClosed

// Config is how a Server serves.
type Config struct {
	// Handler answers every request.
	Handler http.Handler
	// HeaderTimeout bounds the time from a request's first byte (or the
	// connection's accept) to the end of its header.
	HeaderTimeout time.Duration
	// IdleTimeout bounds the wait for the next request on a kept-alive
	// connection.
	IdleTimeout time.Duration
	// WriteTimeout bounds the time from the end of a request's header to
	// the end of its answer.
	WriteTimeout time.Duration
	// MaxHeaderBytes bounds a request's line and header.
	MaxHeaderBytes int
	// ConnContext, if set, derives the context of a connection's requests
	// from the server's (as http.Server's ConnContext).
	ConnContext func(ctx context.Context, c net.Conn) context.Context
	// Log gets panics of handlers (error) and failed accepts (warn).
	Log zerolog.Logger
}

// DefaultConfig is a Config with http.Server-like bounds and no Handler.
func DefaultConfig() Config {
	return Config{
		HeaderTimeout:  10 * time.Second,
		IdleTimeout:    2 * time.Minute,
		WriteTimeout:   time.Minute,
		MaxHeaderBytes: 1 << 20,
		Log:            zerolog.Nop(),
	}
}

// Validate reports a Config that cannot serve.
func (c Config) Validate() error {
	switch {
	case c.Handler == nil:
		return errors.New("httpserve: no handler")
	case c.HeaderTimeout <= 0 || c.IdleTimeout <= 0 || c.WriteTimeout <= 0:
		return fmt.Errorf("httpserve: timeouts must be positive (header %v, idle %v, write %v)", c.HeaderTimeout, c.IdleTimeout, c.WriteTimeout)
	case c.MaxHeaderBytes < 1024 || c.MaxHeaderBytes > 16<<20:
		return fmt.Errorf("httpserve: max header bytes %d, want 1 KiB to 16 MiB", c.MaxHeaderBytes)
	}
	return nil
}

// Server serves HTTP/1.1 on the listeners given to Serve.
type Server struct {
	cfg Config

	closing atomic.Bool // Shutdown or Close began: no new connections, no keep-alive

	mu        sync.Mutex // guards listeners, conns
	listeners map[net.Listener]struct{}
	conns     map[*conn]struct{}
	wg        sync.WaitGroup // connection goroutines
}

// New returns a Server for cfg.
func New(cfg Config) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Server{
		cfg:       cfg,
		listeners: map[net.Listener]struct{}{},
		conns:     map[*conn]struct{}{},
	}, nil
}

// Handler is the Config's handler.
func (s *Server) Handler() http.Handler { return s.cfg.Handler }

// ConnContext is the context a connection's requests derive from, for
// callers that run the handler without a connection (benchmarks); c may be
// nil.
func (s *Server) ConnContext(c net.Conn) context.Context {
	if s.cfg.ConnContext != nil {
		return s.cfg.ConnContext(context.Background(), c)
	}
	return context.Background()
}

// Serve accepts connections on ln and serves each on a goroutine of its own
// until Shutdown or Close; then it returns ErrServerClosed. It closes ln.
func (s *Server) Serve(ln net.Listener) error {
	s.mu.Lock()
	if s.closing.Load() {
		s.mu.Unlock()
		_ = ln.Close()
		return ErrServerClosed
	}
	s.listeners[ln] = struct{}{}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.listeners, ln)
		s.mu.Unlock()
		_ = ln.Close()
	}()

	var delay time.Duration // after a failed accept (out of file descriptors)
	for {
		rwc, err := ln.Accept()
		if err != nil {
			if s.closing.Load() {
				return ErrServerClosed
			}
			if errors.Is(err, net.ErrClosed) {
				return err
			}
			delay = min(max(2*delay, 5*time.Millisecond), time.Second)
			s.cfg.Log.Warn().Err(err).Dur("retry_in", delay).Msg("http accept failed")
			time.Sleep(delay)
			continue
		}
		delay = 0
		c := newConn(s, rwc)
		if !s.track(c) {
			_ = rwc.Close()
			return ErrServerClosed
		}
		go func() {
			defer s.untrack(c)
			c.serve()
		}()
	}
}

// track registers a new connection; false when the server is closing.
func (s *Server) track(c *conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing.Load() {
		return false
	}
	s.conns[c] = struct{}{}
	s.wg.Add(1)
	return true
}

func (s *Server) untrack(c *conn) {
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
	s.wg.Done()
}

// closeListeners stops accepting; it marks the server closing first, so
// Serve returns ErrServerClosed.
func (s *Server) closeListeners() {
	s.mu.Lock()
	s.closing.Store(true)
	for ln := range s.listeners {
		_ = ln.Close()
	}
	s.mu.Unlock()
}

// stuckWrite is how long, during Shutdown, one write may go without
// returning before its connection is closed: a client that does not read
// would otherwise hold the shutdown for its whole deadline.
const stuckWrite = time.Second

// writeSeen is a connection's write in progress as Shutdown first saw it.
type writeSeen struct {
	seq uint64
	at  time.Time
}

// closeIdle closes the connections that wait for a request, and those whose
// write has been blocked (the same one) for stuckWrite since seen noted it;
// it reports whether no connection is left.
func (s *Server) closeIdle(seen map[*conn]writeSeen, now time.Time) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.conns {
		c.closeIfIdle()
		switch seq := c.writeSeq.Load(); {
		case seq%2 == 0: // not writing
			delete(seen, c)
		case seen[c].seq != seq:
			seen[c] = writeSeen{seq, now}
		case now.Sub(seen[c].at) >= stuckWrite:
			c.closeNow()
		}
	}
	return len(s.conns) == 0
}

// Shutdown stops accepting, closes idle connections, and waits until every
// request being served has been answered (its connection then closes) or ctx
// ends; then it returns ctx's error, and the caller may Close. An answer
// whose client stops reading is cut once one write has waited stuckWrite.
// Handlers that wait for long (blocking queries, streams) should end on a
// signal of their own: like http.Server, Shutdown does not cancel their
// contexts.
func (s *Server) Shutdown(ctx context.Context) error {
	s.closeListeners()
	tick := 5 * time.Millisecond
	seen := map[*conn]writeSeen{}
	for {
		if s.closeIdle(seen, time.Now()) {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(tick):
		}
		tick = min(2*tick, 200*time.Millisecond)
	}
}

// closeWait bounds how long Close waits for the goroutines of the
// connections it closed: a handler that ignores both its context and its
// failing writes is a bug, and is logged instead of hanging the caller.
const closeWait = 10 * time.Second

// Close stops accepting, closes every connection (which cancels the
// contexts of the requests on them) and waits for their goroutines.
func (s *Server) Close() error {
	s.closeListeners()
	s.mu.Lock()
	for c := range s.conns {
		c.closeNow()
	}
	s.mu.Unlock()
	done := make(chan struct{})
	go func() {
		s.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(closeWait):
		s.cfg.Log.Error().Dur("waited", closeWait).Msg("http handlers still running after their connections closed")
	}
	return nil
}
