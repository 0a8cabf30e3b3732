package httpserve

import (
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"golang.org/x/net/http/httpguts"
)

// maxBuffered is how much of an answer is held back before it is sent
// chunked: an answer up to this size goes out whole, with a Content-Length.
const maxBuffered = 64 << 10

// keepBuffer is the largest buffer a connection keeps between requests.
const keepBuffer = 16 << 10

// response is the http.ResponseWriter of one request; a connection reuses
// its one for each request in turn.
type response struct {
	c   *conn
	req *http.Request
	now time.Time

	header http.Header // the handler's
	sent   http.Header // the header as it was at WriteHeader, if changed after

	status      int
	wroteHeader bool  // the handler set the status (WriteHeader or a Write)
	committed   bool  // the status line and header are in c.out or sent
	chunked     bool  // the body is sent in chunks
	closeAfter  bool  // close the connection after this answer
	keepAlive10 bool  // an HTTP/1.0 client asked to keep the connection
	noBody      bool  // HEAD, 1xx, 204, 304: no body bytes go out
	declared    int64 // the handler's Content-Length, -1 if none
	written     int64 // body bytes the handler wrote
	buf         []byte

	body  bodyReader
	watch watcher
}

// reset prepares w for req.
func (w *response) reset(req *http.Request, now time.Time) {
	if w.header == nil {
		w.header = make(http.Header, 4)
	} else {
		clear(w.header)
	}
	w.req, w.now, w.sent = req, now, nil
	w.status, w.wroteHeader, w.committed, w.chunked = 0, false, false, false
	w.closeAfter = req.Close
	w.keepAlive10 = !req.ProtoAtLeast(1, 1) && !req.Close
	w.noBody = req.Method == http.MethodHead
	w.declared, w.written = -1, 0
	w.buf = w.buf[:0]
}

// release drops buffers a large answer grew.
func (w *response) release() {
	if cap(w.buf) > keepBuffer {
		w.buf = nil
	}
	if cap(w.c.out) > keepBuffer {
		w.c.out = nil
	}
	w.req = nil
}

// prepareBody wraps the request body; false: the request was refused
// (an Expect other than 100-continue).
func (w *response) prepareBody() bool {
	req := w.req
	w.body = bodyReader{w: w, rc: req.Body, eof: req.Body == nil || req.Body == http.NoBody}
	if e := req.Header["Expect"]; len(e) > 0 {
		if len(e) != 1 || !strings.EqualFold(e[0], "100-continue") {
			w.c.refuseWith(http.StatusExpectationFailed, "unsupported Expect")
			return false
		}
		w.body.expectContinue = req.ProtoAtLeast(1, 1) && !w.body.eof
	}
	if !w.body.eof {
		req.Body = &w.body
	}
	return true
}

func (w *response) Header() http.Header {
	if w.wroteHeader && !w.committed && w.sent == nil {
		// The header is changed after WriteHeader: what goes out is what
		// it was then.
		w.sent = w.header.Clone()
	}
	return w.header
}

func (w *response) WriteHeader(code int) {
	if w.wroteHeader || w.committed {
		return
	}
	if code < 100 || code > 999 {
		code = http.StatusInternalServerError
	}
	if code < 200 && code != http.StatusSwitchingProtocols {
		w.informational(code)
		return
	}
	w.status, w.wroteHeader = code, true
	if bodyless(code) {
		w.noBody = true
	}
	if cl := w.header["Content-Length"]; len(cl) == 1 {
		if n, err := strconv.ParseInt(cl[0], 10, 64); err == nil && n >= 0 {
			w.declared = n
		}
	}
	if c := w.header["Connection"]; len(c) > 0 && httpguts.HeaderValuesContainsToken(c, "close") {
		w.closeAfter = true
	}
}

// informational sends a 1xx answer at once (the final one follows).
func (w *response) informational(code int) {
	c := w.c
	c.out = append(c.out, "HTTP/1.1 "...)
	c.out = appendStatus(c.out, code)
	c.out = append(c.out, "\r\n"...)
	c.out = appendHeader(c.out, w.header)
	c.out = append(c.out, "\r\n"...)
	c.flush()
}

func (w *response) Write(p []byte) (int, error) {
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	if len(p) == 0 {
		return 0, nil
	}
	if w.noBody {
		if w.req.Method == http.MethodHead && !bodyless(w.status) {
			w.written += int64(len(p)) // counted for HEAD's Content-Length
			return len(p), nil
		}
		return 0, http.ErrBodyNotAllowed
	}
	if w.declared >= 0 && w.written+int64(len(p)) > w.declared {
		return 0, http.ErrContentLength
	}
	if w.c.werr != nil {
		return 0, w.c.werr
	}
	w.written += int64(len(p))
	if !w.committed {
		if len(w.buf)+len(p) <= maxBuffered {
			w.buf = append(w.buf, p...)
			return len(p), nil
		}
		w.commit(false)
	}
	w.appendBody(p)
	if len(w.c.out) >= 4096 && !w.c.flush() {
		return 0, w.c.werr
	}
	return len(p), nil
}

// WriteString is Write without a conversion.
func (w *response) WriteString(s string) (int, error) {
	if !w.committed && !w.noBody && w.wroteHeader && w.declared < 0 && len(w.buf)+len(s) <= maxBuffered && w.c.werr == nil {
		w.buf = append(w.buf, s...)
		w.written += int64(len(s))
		return len(s), nil
	}
	return w.Write([]byte(s))
}

// appendBody adds body bytes after the header, framed.
func (w *response) appendBody(p []byte) {
	c := w.c
	if w.chunked {
		c.out = strconv.AppendInt(c.out, int64(len(p)), 16)
		c.out = append(c.out, "\r\n"...)
		c.out = append(c.out, p...)
		c.out = append(c.out, "\r\n"...)
		return
	}
	c.out = append(c.out, p...)
}

// Flush sends what the handler wrote so far (http.Flusher).
func (w *response) Flush() { _ = w.FlushError() }

// FlushError is Flush with its error (for http.ResponseController).
func (w *response) FlushError() error {
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	if !w.committed {
		w.commit(false)
	}
	if !w.c.flush() {
		return w.c.werr
	}
	return nil
}

// SetReadDeadline and SetWriteDeadline are for http.ResponseController.
func (w *response) SetReadDeadline(t time.Time) error { return w.c.rwc.SetReadDeadline(t) }

func (w *response) SetWriteDeadline(t time.Time) error { return w.c.setWriteDeadline(t) }

// commit puts the status line and header into the connection's output,
// followed by the body held so far. final: the handler has returned, so
// the body's length is known.
func (w *response) commit(final bool) {
	c := w.c
	h := w.header
	if w.sent != nil {
		h = w.sent
	}
	length := w.declared
	switch {
	case w.noBody && w.req.Method == http.MethodHead && final && length < 0 && w.written > 0:
		length = w.written
	case w.noBody:
	case final && length < 0:
		length = int64(len(w.buf))
	case length < 0 && w.req.ProtoAtLeast(1, 1):
		w.chunked = true
	case length < 0:
		w.closeAfter = true // HTTP/1.0: the end of the connection ends the body
	}
	if w.keepAlive10 && (length < 0 && !w.noBody) {
		w.closeAfter = true
	}
	if c.srv.closing.Load() {
		w.closeAfter = true
	}
	c.out = append(c.out, "HTTP/1.1 "...)
	c.out = appendStatus(c.out, w.status)
	c.out = append(c.out, "\r\n"...)
	c.out = appendHeader(c.out, h)
	if d, ok := h["Date"]; !ok || (len(d) > 0 && d[0] == "") {
		c.out = append(c.out, "Date: "...)
		c.out = appendDate(c.out, w.now)
		c.out = append(c.out, "\r\n"...)
	}
	if _, ok := h["Content-Type"]; !ok && len(w.buf) > 0 && !w.noBody {
		c.out = append(c.out, "Content-Type: "...)
		c.out = append(c.out, http.DetectContentType(w.buf)...)
		c.out = append(c.out, "\r\n"...)
	}
	switch {
	case bodyless(w.status):
	case w.chunked:
		c.out = append(c.out, "Transfer-Encoding: chunked\r\n"...)
	case length >= 0:
		c.out = append(c.out, "Content-Length: "...)
		c.out = appendInt(c.out, length)
		c.out = append(c.out, "\r\n"...)
	}
	switch {
	case w.closeAfter:
		c.out = append(c.out, "Connection: close\r\n"...)
	case w.keepAlive10:
		c.out = append(c.out, "Connection: keep-alive\r\n"...)
	}
	c.out = append(c.out, "\r\n"...)
	w.committed = true
	if len(w.buf) > 0 && !w.noBody {
		w.appendBody(w.buf)
	}
	w.buf = w.buf[:0]
}

// finish completes and sends the answer after the handler returned: the
// whole of it when nothing was sent yet, else the last chunk.
func (w *response) finish() error {
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	if !w.body.eof {
		w.drainBody()
	}
	if !w.committed {
		w.commit(true)
	} else if w.chunked {
		w.c.out = append(w.c.out, "0\r\n\r\n"...)
	}
	if w.declared >= 0 && w.written != w.declared && !w.noBody {
		// The handler declared more than it wrote: the framing is
		// broken, the client must see the connection end.
		w.closeAfter = true
	}
	if len(w.c.out) > 0 {
		w.c.flush()
	}
	return w.c.werr
}

// drainBody reads and drops what the handler left of the request body, so
// the connection can carry the next request; a larger rest, or a body the
// client waits to send (Expect: 100-continue), closes the connection.
func (w *response) drainBody() {
	b := &w.body
	if w.closeAfter {
		return
	}
	if (b.expectContinue && !b.continued) || w.req.ContentLength > maxDrainBytes {
		w.closeAfter = true
		return
	}
	// Within the read deadline in force: the header's, or the handler's.
	n, err := io.CopyN(io.Discard, b.rc, maxDrainBytes+1)
	if n > maxDrainBytes || (err != nil && !errors.Is(err, io.EOF)) {
		w.closeAfter = true
	}
}

// fail answers 500 after a handler panicked before anything was sent.
func (w *response) fail() {
	c := w.c
	c.out = appendPlainAnswer(c.out[:0], http.StatusInternalServerError, http.StatusText(http.StatusInternalServerError), w.req.Method == http.MethodHead)
	c.flush()
}

// appendPlainAnswer appends a whole closing answer of code with msg as its
// text body (none for a HEAD): the server's own answers, before or instead
// of a handler's.
func appendPlainAnswer(b []byte, code int, msg string, head bool) []byte {
	b = append(b, "HTTP/1.1 "...)
	b = appendStatus(b, code)
	b = append(b, "\r\nDate: "...)
	b = appendDate(b, time.Now())
	b = append(b, "\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\nContent-Length: "...)
	b = appendInt(b, int64(len(msg)))
	b = append(b, "\r\n\r\n"...)
	if !head {
		b = append(b, msg...)
	}
	return b
}

// bodyless reports whether an answer of this status carries no body.
func bodyless(code int) bool {
	return code < 200 || code == http.StatusNoContent || code == http.StatusNotModified
}

// refuseWith answers code and closes the connection after a moment.
func (c *conn) refuseWith(code int, text string) {
	c.refuse(statusError{code, text}, c.res.req.Method == http.MethodHead)
}

// bodyReader is a request's body as the handler reads it: it sends
// "100 Continue" before the first read when the client waits for it, and
// notes the body's end (when the connection's background read may start).
type bodyReader struct {
	w              *response
	rc             io.ReadCloser
	eof            bool
	expectContinue bool
	continued      bool
}

func (b *bodyReader) Read(p []byte) (int, error) {
	if b.eof {
		return 0, io.EOF
	}
	if b.expectContinue && !b.continued {
		b.continued = true
		if !b.w.committed {
			c := b.w.c
			// Ahead of any answer bytes already pending.
			if err := c.write([]byte("HTTP/1.1 100 Continue\r\n\r\n")); err != nil {
				return 0, err
			}
		}
	}
	n, err := b.rc.Read(p)
	if errors.Is(err, io.EOF) {
		b.eof = true
		b.w.c.bodyDone()
	}
	return n, err
}

// Close is a no-op: the connection reads or drops what is left.
func (b *bodyReader) Close() error { return nil }

// appendStatus appends "200 OK".
func appendStatus(b []byte, code int) []byte {
	b = strconv.AppendInt(b, int64(code), 10)
	b = append(b, ' ')
	if t := http.StatusText(code); t != "" {
		return append(b, t...)
	}
	return append(b, "status code "...)
}

func appendInt(b []byte, n int64) []byte { return strconv.AppendInt(b, n, 10) }

// appendHeader appends h's fields in key order, except the ones the server
// writes itself; a CR or LF in a value becomes a space (no field can be
// smuggled into the answer by a value).
func appendHeader(b []byte, h http.Header) []byte {
	var keys [16]string
	ks := keys[:0]
	for k := range h {
		switch k {
		case "Content-Length", "Transfer-Encoding", "Connection", "Date":
			continue
		}
		ks = append(ks, k)
	}
	// Insertion sort: a handful of keys.
	for i := 1; i < len(ks); i++ {
		for j := i; j > 0 && ks[j] < ks[j-1]; j-- {
			ks[j], ks[j-1] = ks[j-1], ks[j]
		}
	}
	for _, k := range ks {
		if !httpguts.ValidHeaderFieldName(k) {
			continue
		}
		for _, v := range h[k] {
			b = append(b, k...)
			b = append(b, ": "...)
			b = appendFieldValue(b, v)
			b = append(b, "\r\n"...)
		}
	}
	if d := h["Date"]; len(d) > 0 && d[0] != "" {
		b = append(b, "Date: "...)
		b = appendFieldValue(b, d[0])
		b = append(b, "\r\n"...)
	}
	return b
}

func appendFieldValue(b []byte, v string) []byte {
	v = strings.TrimSpace(v)
	for i := 0; i < len(v); i++ {
		switch ch := v[i]; ch {
		case '\r', '\n', 0:
			b = append(b, ' ')
		default:
			b = append(b, ch)
		}
	}
	return b
}

// The Date field's value, made at most once a second.
type dateValue struct {
	sec int64
	b   []byte
}

var date atomic.Pointer[dateValue]

func appendDate(b []byte, now time.Time) []byte {
	sec := now.Unix()
	d := date.Load()
	if d == nil || d.sec != sec {
		d = &dateValue{sec: sec, b: now.UTC().AppendFormat(nil, http.TimeFormat)}
		date.Store(d)
	}
	return append(b, d.b...)
}
