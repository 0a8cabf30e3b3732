package httpserve

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/net/http/httpguts"
)

// Connection states, for Shutdown: it closes new and idle connections, and
// a connection moves from those to active only if Shutdown has not closed it.
const (
	stateNew int32 = iota // accepted, no request read yet
	stateActive
	stateIdle
	stateClosed
)

// conn is one client connection; its goroutine runs serve.
type conn struct {
	srv    *Server
	rwc    net.Conn
	remote string
	ctx    context.Context // ConnContext's, parent of each request's
	state  atomic.Int32

	cr  connReader
	br  *bufio.Reader
	out []byte // answer bytes not yet written
	res response
	tls *tls.ConnectionState // after the first request on a TLS connection

	wdl            time.Time // the connection's write deadline
	werr           error     // a write failed: the connection is done
	headerDeadline bool      // the read deadline is the current request's header timeout

	writeSeq atomic.Uint64 // odd while a write is in progress
}

// writeSlack is how much earlier than WriteTimeout asks an answer's write
// deadline may fall: the deadline of the connection's previous answer is
// kept while it is at most this much early.
const writeSlack = time.Second

func (c *conn) setWriteDeadline(t time.Time) error {
	c.wdl = t
	return c.rwc.SetWriteDeadline(t)
}

// write writes p to the connection; after a failed write every write fails.
func (c *conn) write(p []byte) error {
	if c.werr != nil {
		return c.werr
	}
	c.writeSeq.Add(1) // odd: writing (Shutdown cuts a write that blocks)
	_, c.werr = c.rwc.Write(p)
	c.writeSeq.Add(1)
	return c.werr
}

// flush writes the pending answer bytes; false if that failed.
func (c *conn) flush() bool {
	err := c.write(c.out)
	c.out = c.out[:0]
	return err == nil
}

func newConn(s *Server, rwc net.Conn) *conn {
	c := &conn{srv: s, rwc: rwc, remote: rwc.RemoteAddr().String()}
	c.cr.c = c
	c.res.c = c
	return c
}

// closeIfIdle closes the connection if it waits for a request (Shutdown).
func (c *conn) closeIfIdle() {
	if c.state.CompareAndSwap(stateIdle, stateClosed) || c.state.CompareAndSwap(stateNew, stateClosed) {
		_ = c.rwc.Close()
	}
}

// closeNow closes the connection whatever it does (Close).
func (c *conn) closeNow() {
	c.state.Store(stateClosed)
	_ = c.rwc.Close()
}

// toActive moves a connection that got a request from new or idle to active;
// false: Shutdown closed it meanwhile.
func (c *conn) toActive() bool {
	for {
		switch st := c.state.Load(); st {
		case stateActive:
			return true
		case stateClosed:
			return false
		default:
			if c.state.CompareAndSwap(st, stateActive) {
				return true
			}
		}
	}
}

// aLongTimeAgo is a deadline in the past: it wakes a blocked read at once.
var aLongTimeAgo = time.Unix(1, 0)

// maxDrainBytes is how much of a request body a handler left unread is read
// and dropped so the connection can serve another request; more, and the
// connection closes after the answer (http.Server's figure).
const maxDrainBytes = 256 << 10

// serve reads and answers requests until the connection ends.
func (c *conn) serve() {
	defer func() {
		c.state.Store(stateClosed)
		_ = c.rwc.Close()
	}()
	c.ctx = c.srv.ConnContext(c.rwc)
	c.br = bufio.NewReaderSize(&c.cr, 4096)
	cfg := &c.srv.cfg
	now := time.Now()
	_ = c.rwc.SetReadDeadline(now.Add(cfg.HeaderTimeout))
	c.headerDeadline = true
	for first := true; ; first = false {
		if !first {
			if c.br.Buffered() == 0 && len(c.cr.pending) == 0 {
				// Wait for the next request.
				if !c.state.CompareAndSwap(stateActive, stateIdle) || c.srv.closing.Load() {
					return
				}
				_ = c.rwc.SetReadDeadline(time.Now().Add(cfg.IdleTimeout))
				if _, err := c.br.Peek(1); err != nil {
					return
				}
			}
			// The header timeout starts with the request's first byte. A
			// header already here whole needs no deadline (one for a body
			// is set in serveRequest): setting a deadline costs a timer
			// update.
			now = time.Now()
			if c.headerDeadline = !c.headerBuffered(); c.headerDeadline {
				_ = c.rwc.SetReadDeadline(now.Add(cfg.HeaderTimeout))
			}
		}
		req, err := c.readRequest()
		if err != nil {
			if c.toActive() {
				c.refuse(err, req != nil && req.Method == http.MethodHead)
			}
			return
		}
		if !c.toActive() {
			return
		}
		if first {
			now = time.Now() // not the accept's: the header may have taken a while
		}
		if !c.serveRequest(req, now) {
			if c.werr == nil && c.clientMaySend() {
				c.closeWriteAndWait()
			}
			return
		}
	}
}

// headerBuffered reports whether a whole request header is buffered.
func (c *conn) headerBuffered() bool {
	b, _ := c.br.Peek(c.br.Buffered())
	return bytes.Contains(b, []byte("\r\n\r\n"))
}

// readRequest reads one request and checks it as http.Server does. A
// request that was read but is refused comes with its error.
func (c *conn) readRequest() (*http.Request, error) {
	// RFC 9112 section 2.2: a server should ignore at least one empty line
	// before a request line (some clients send a CRLF after a POST body).
	// Up to two are dropped; more are a malformed request.
	for range 2 {
		if b, err := c.br.Peek(1); err != nil || b[0] != '\r' {
			break
		}
		if b, err := c.br.Peek(2); err != nil || b[1] != '\n' {
			break
		}
		_, _ = c.br.Discard(2)
	}
	// The header's bytes as they came (those already buffered, then what
	// is read while parsing) are kept for checkFraming: the parser drops
	// the fields a smuggling check needs to see.
	c.cr.raw = c.cr.raw[:0]
	if n := c.br.Buffered(); n > 0 {
		p, _ := c.br.Peek(n)
		c.cr.raw = append(c.cr.raw, p...)
	}
	c.cr.limit(int64(c.srv.cfg.MaxHeaderBytes) + 4096) // bufio may read one buffer ahead
	req, err := http.ReadRequest(c.br)
	hit := c.cr.hit
	c.cr.unlimit()
	raw := c.cr.raw
	if cap(c.cr.raw) > keepBuffer {
		c.cr.raw = nil
	}
	if err != nil {
		if hit {
			return nil, errTooLarge
		}
		return nil, err
	}
	if err := checkFraming(raw, req); err != nil {
		return req, err
	}
	if req.ProtoMajor != 1 {
		return req, statusError{http.StatusHTTPVersionNotSupported, "unsupported protocol version"}
	}
	// RFC 9112 section 3.2: an HTTP/1.1 request without a Host is refused
	// (ReadRequest refuses two; an absolute-form target carries its own).
	if req.ProtoAtLeast(1, 1) && req.Host == "" && req.Method != http.MethodConnect {
		return req, statusError{http.StatusBadRequest, "missing required Host header"}
	}
	if !httpguts.ValidHostHeader(req.Host) {
		return req, statusError{http.StatusBadRequest, "malformed Host header"}
	}
	for k, vv := range req.Header {
		if !httpguts.ValidHeaderFieldName(k) {
			return req, statusError{http.StatusBadRequest, "invalid header name"}
		}
		for _, v := range vv {
			if !httpguts.ValidHeaderFieldValue(v) {
				return req, statusError{http.StatusBadRequest, "invalid header value"}
			}
		}
	}
	return req, nil
}

// statusError is a request refused before a handler saw it.
type statusError struct {
	code int
	text string
}

func (e statusError) Error() string { return http.StatusText(e.code) + ": " + e.text }

var errTooLarge = statusError{http.StatusRequestHeaderFieldsTooLarge, "request header too large"}

// refuse answers a request that could not be read, as http.Server does, and
// closes the connection: silently when the client went away or was too
// slow, 431 for a header over the limit, 501 for a transfer coding other
// than chunked, 505 for HTTP/2 or later, 400 for the rest. head: the
// request was a HEAD (the answer has no body).
func (c *conn) refuse(err error, head bool) {
	var se statusError
	switch {
	case errors.As(err, &se):
	case strings.HasPrefix(err.Error(), "unsupported transfer encoding"):
		// Not echoed: the value is the client's.
		se = statusError{http.StatusNotImplemented, "unsupported transfer encoding"}
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, net.ErrClosed),
		errors.Is(err, os.ErrDeadlineExceeded), isNetError(err):
		return
	default:
		se = statusError{http.StatusBadRequest, "malformed request"}
	}
	c.out = appendPlainAnswer(c.out[:0], se.code, se.Error(), head)
	_ = c.rwc.SetWriteDeadline(time.Now().Add(time.Second))
	if _, err := c.rwc.Write(c.out); err == nil {
		c.closeWriteAndWait()
	}
}

func isNetError(err error) bool {
	var ne *net.OpError
	return errors.As(err, &ne)
}

// clientMaySend reports whether the client may still be sending when the
// server closes after an answer: the request body was not read to its end,
// or pipelined bytes wait unread.
func (c *conn) clientMaySend() bool {
	return !c.res.body.eof || c.br.Buffered() > 0 || len(c.cr.pending) > 0
}

// lingerTime and lingerBytes bound how long and how much a connection the
// server closes reads and drops of what the client still sends. Closing a
// socket with unread bytes makes the kernel send a reset, and a reset can
// reach the client before it read the answer (a 413 for a body it is still
// writing): Go's client, for one, then reports the failed write and never
// the answer. lingerBytes is a few times the largest body the agent takes.
const (
	lingerTime  = 500 * time.Millisecond
	lingerBytes = 8 << 20
)

// closeWriteAndWait drains the connection (Drain) before the caller closes
// it.
func (c *conn) closeWriteAndWait() {
	Drain(c.rwc, &c.cr, lingerTime, lingerBytes)
}

// Drain ends c's sending side (the peer sees the answer end) and reads and
// drops what the peer still sends, from r (c, or a reader in front of it),
// until the peer closes too, for at most wait and max bytes. Closing a
// socket with unread bytes makes the kernel reset the connection, and the
// reset can reach the peer before the answer it was sent. The caller closes
// c afterwards.
func Drain(c net.Conn, r io.Reader, wait time.Duration, max int64) {
	if cw, ok := c.(interface{ CloseWrite() error }); ok {
		_ = cw.CloseWrite()
	}
	_ = c.SetReadDeadline(time.Now().Add(wait))
	_, _ = io.CopyN(io.Discard, r, max)
}

// serveRequest runs the handler for req and finishes its answer; false: the
// connection must close.
func (c *conn) serveRequest(req *http.Request, now time.Time) (keep bool) {
	cfg := &c.srv.cfg
	// The answer's deadline, moved only when that moves it by more than
	// writeSlack: setting a deadline costs a timer update.
	if dl := now.Add(cfg.WriteTimeout); dl.Sub(c.wdl) > writeSlack || dl.Before(c.wdl) {
		c.setWriteDeadline(dl)
	}
	// The header's read deadline bounds the body too, unless the handler
	// sets one of its own (http.ResponseController), as the agent's guard
	// does.
	if !c.headerDeadline && req.Body != nil && req.Body != http.NoBody {
		_ = c.rwc.SetReadDeadline(now.Add(cfg.HeaderTimeout))
	}
	if c.tls == nil {
		if tc, ok := c.rwc.(*tls.Conn); ok {
			st := tc.ConnectionState()
			c.tls = &st
		}
	}
	req.RemoteAddr = c.remote
	req.TLS = c.tls

	w := &c.res
	w.reset(req, now)
	if !w.prepareBody() {
		return false
	}
	rc := &requestCtx{Context: c.ctx, c: c}
	c.beginWatch(!w.body.eof, rc)
	req = req.WithContext(rc)
	w.req = req

	panicked := c.runHandler(w, req)
	rc.cancel(context.Canceled)
	c.stopWatch()
	if panicked {
		if !w.committed {
			w.fail()
		}
		return false
	}
	if err := w.finish(); err != nil {
		return false
	}
	w.release()
	return !w.closeAfter && c.werr == nil
}

// runHandler calls the handler and reports whether it panicked (logged
// unless it was http.ErrAbortHandler).
func (c *conn) runHandler(w *response, req *http.Request) (panicked bool) {
	defer func() {
		if v := recover(); v != nil {
			panicked = true
			if v == http.ErrAbortHandler { // net/http's sentinel for a quiet abort
				return
			}
			buf := make([]byte, 16<<10)
			buf = buf[:runtime.Stack(buf, false)]
			c.srv.cfg.Log.Error().Str("remote", c.remote).Str("method", req.Method).Str("path", req.URL.Path).
				Interface("panic", v).Str("stack", string(buf)).Msg("http handler panicked")
		}
	}()
	c.srv.cfg.Handler.ServeHTTP(w, req)
	return false
}

// connReader is what the bufio.Reader of a connection reads: the
// connection, bounded while a header is read, with the bytes a background
// read found put back in front.
type connReader struct {
	c       *conn
	remain  int64 // bytes that may still be read while limited
	limited bool
	hit     bool   // a read stopped at the limit
	raw     []byte // what was read while limited (a header)

	pending []byte // read by the background read, not yet read here
}

func (r *connReader) limit(n int64) { r.remain, r.limited, r.hit = n, true, false }
func (r *connReader) unlimit()      { r.limited = false }

func (r *connReader) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	if r.limited {
		if r.remain <= 0 {
			r.hit = true
			return 0, io.EOF
		}
		if int64(len(p)) > r.remain {
			p = p[:r.remain]
		}
	}
	var n int
	var err error
	if len(r.pending) > 0 {
		n = copy(p, r.pending)
		if r.pending = r.pending[n:]; len(r.pending) == 0 {
			r.pending = nil
		}
	} else {
		n, err = r.c.rwc.Read(p)
	}
	if r.limited {
		r.remain -= int64(n)
		r.raw = append(r.raw, p[:n]...)
	}
	return n, err
}

// requestCtx is a request's context: its values are the connection's; it
// is cancelled when the handler returns, and, once a handler has asked for
// Done, when the client closes the connection.
type requestCtx struct {
	context.Context // the connection's: values, no deadline, never done
	c               *conn

	mu   sync.Mutex // guards done, err
	done chan struct{}
	err  error
}

func (x *requestCtx) Done() <-chan struct{} {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.done == nil {
		x.done = make(chan struct{})
		if x.err != nil {
			close(x.done)
		} else {
			x.c.watch(x)
		}
	}
	return x.done
}

func (x *requestCtx) Err() error {
	x.mu.Lock()
	defer x.mu.Unlock()
	return x.err
}

func (x *requestCtx) cancel(err error) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.err == nil {
		x.err = err
		if x.done != nil {
			close(x.done)
		}
	}
}

// watcher is the background read that tells a request's context that its
// client went away: it reads what the client sends while the handler runs
// (pipelined requests, kept for the loop, at most watchMax bytes) until the
// connection ends or fails, which cancels the context.
type watcher struct {
	mu       sync.Mutex // guards the fields up to done
	bodyOpen bool       // the request body is not read to its end
	wanted   bool       // a handler asked; start once the body is read
	running  bool
	ctx      *requestCtx
	done     chan struct{}

	// Written by the read, read after done is closed.
	buf []byte
	err error
}

// watchMax bounds what a background read keeps of the requests a client
// pipelines behind a waiting one; past it the read stops (and with it the
// watch), until the loop reads them.
const watchMax = 64 << 10

// beginWatch resets the watcher for a request (on the connection's goroutine,
// before the handler runs).
func (c *conn) beginWatch(bodyOpen bool, ctx *requestCtx) {
	w := &c.res.watch
	w.mu.Lock()
	w.bodyOpen, w.ctx, w.wanted, w.running = bodyOpen, ctx, false, false
	w.mu.Unlock()
}

// watch starts the background read for x, or, while the request body is
// not read to its end, has the end of the body start it (the read would
// take the body's bytes). Called with x.mu held.
func (c *conn) watch(x *requestCtx) {
	w := &c.res.watch
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.running || w.wanted || x != w.ctx {
		return
	}
	if w.bodyOpen {
		w.wanted = true
		return
	}
	c.startWatchLocked()
}

// bodyDone is called, on the goroutine reading the body, when the request
// body has been read to its end.
func (c *conn) bodyDone() {
	w := &c.res.watch
	w.mu.Lock()
	defer w.mu.Unlock()
	w.bodyOpen = false
	if w.wanted && !w.running {
		w.wanted = false
		c.startWatchLocked()
	}
}

func (c *conn) startWatchLocked() {
	w := &c.res.watch
	// The header's read deadline would end the wait early: the handler
	// may run for as long as its answer's write deadline allows.
	_ = c.rwc.SetReadDeadline(time.Time{})
	w.running = true
	done, x := make(chan struct{}), w.ctx
	w.done = done
	go func() {
		defer close(done)
		// Bytes already buffered come before these (the loop reads its
		// buffer, then pending, then the connection): order is kept.
		buf := w.buf[:0]
		for len(buf) < watchMax {
			if cap(buf)-len(buf) < 512 {
				buf = slices.Grow(buf, min(4096, watchMax-len(buf)))
			}
			n, err := c.rwc.Read(buf[len(buf):cap(buf)])
			buf = buf[:len(buf)+n]
			if err != nil {
				w.err = err
				if !errors.Is(err, os.ErrDeadlineExceeded) {
					x.cancel(context.Canceled)
				}
				break
			}
		}
		w.buf = buf
	}()
}

// stopWatch ends a background read, keeping the bytes it found; after it
// the connection's reads are the loop's again.
func (c *conn) stopWatch() {
	w := &c.res.watch
	w.mu.Lock()
	running, done := w.running, w.done
	w.running, w.wanted, w.ctx = false, false, nil
	w.mu.Unlock()
	if !running {
		return
	}
	_ = c.rwc.SetReadDeadline(aLongTimeAgo)
	<-done
	if len(w.buf) > 0 {
		c.cr.pending = append(c.cr.pending, w.buf...)
	}
	if w.err != nil && !errors.Is(w.err, os.ErrDeadlineExceeded) {
		c.res.closeAfter = true
	}
	if cap(w.buf) > keepBuffer {
		w.buf = nil
	}
	w.err, w.done = nil, nil
}
