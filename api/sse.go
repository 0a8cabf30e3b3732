package api

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
)

// ErrStreamEnded: the agent closed the change stream (it is shutting down);
// resume from the last index seen.
var ErrStreamEnded = errors.New("api: stream ended by the agent")

// StreamContentType is the media type of GET /v1/stream.
const StreamContentType = "text/event-stream"

// WriteEvent writes ev as one Server-Sent Event: "id: INDEX", "event: TYPE",
// "data: JSON" and a blank line. The agent flushes after each event; it also
// writes a comment line (": ping") at least every 30 s so that idle
// connections and proxies stay open.
func WriteEvent(w io.Writer, ev StreamEvent) error {
	data, err := json.Marshal(ev)
	if err != nil {
		return err
	}
	var b bytes.Buffer
	b.Grow(len(data) + 64)
	b.WriteString("id: ")
	b.WriteString(strconv.FormatUint(ev.Index, 10))
	b.WriteString("\nevent: ")
	b.WriteString(string(ev.Type))
	b.WriteString("\ndata: ")
	b.Write(data) // json.Marshal never emits a raw newline
	b.WriteString("\n\n")
	_, err = w.Write(b.Bytes())
	return err
}

// sseEvent is one dispatched Server-Sent Event.
type sseEvent struct {
	id    string
	event string
	data  []byte
}

// sseReader parses the text/event-stream format (WHATWG HTML, "Server-sent
// events"): lines end in LF, CRLF or CR; a blank line dispatches an event;
// lines starting with ':' are comments; the fields id, event and data are
// kept, others ignored. An event larger than max bytes is an error.
type sseReader struct {
	r    *bufio.Reader
	max  int
	line []byte
}

func newSSEReader(r io.Reader, max int) *sseReader {
	return &sseReader{r: bufio.NewReaderSize(r, 32<<10), max: max}
}

// readLine returns the next line without its terminator, reading at most
// budget bytes. The returned slice is valid until the next call.
func (s *sseReader) readLine(budget int) ([]byte, error) {
	s.line = s.line[:0]
	for {
		c, err := s.r.ReadByte()
		if err != nil {
			if err == io.EOF && len(s.line) > 0 {
				// A line without terminator at EOF never completes an event.
				return nil, io.ErrUnexpectedEOF
			}
			return nil, err
		}
		switch c {
		case '\n':
			return s.line, nil
		case '\r':
			if next, err := s.r.Peek(1); err == nil && next[0] == '\n' {
				_, _ = s.r.ReadByte()
			}
			return s.line, nil
		}
		if len(s.line) >= budget {
			return nil, fmt.Errorf("%w: stream event larger than %d bytes", ErrTooLarge, s.max)
		}
		s.line = append(s.line, c)
	}
}

// next returns the next event that carries data. It returns io.EOF when the
// stream ends between events and io.ErrUnexpectedEOF inside one.
func (s *sseReader) next() (sseEvent, error) {
	var ev sseEvent
	var data bytes.Buffer
	size, started := 0, false
	for {
		line, err := s.readLine(s.max - size)
		if err != nil {
			if err == io.EOF && started {
				err = io.ErrUnexpectedEOF
			}
			return sseEvent{}, err
		}
		size += len(line) + 1
		if len(line) == 0 {
			if data.Len() == 0 { // no data: nothing to dispatch
				ev, size, started = sseEvent{}, 0, false
				continue
			}
			ev.data = bytes.TrimSuffix(data.Bytes(), []byte("\n"))
			return ev, nil
		}
		started = true
		if line[0] == ':' {
			continue
		}
		field, value, _ := bytes.Cut(line, []byte(":"))
		value = bytes.TrimPrefix(value, []byte(" "))
		switch string(field) {
		case "data":
			data.Write(value)
			data.WriteByte('\n')
		case "event":
			ev.event = string(value)
		case "id":
			if bytes.IndexByte(value, 0) < 0 {
				ev.id = string(value)
			}
		}
	}
}

// decodeStreamEvent decodes the data of one stream event. Unknown fields and
// event types are tolerated (a newer agent may add some; the client skips
// events of unknown types); an upsert or delete without an instance is an
// error.
func decodeStreamEvent(data []byte) (StreamEvent, error) {
	var ev StreamEvent
	if err := json.Unmarshal(data, &ev); err != nil {
		return StreamEvent{}, fmt.Errorf("%w: stream event: %v", ErrInvalid, err)
	}
	switch ev.Type {
	case EventUpsert, EventDelete:
		if ev.Instance == nil {
			return StreamEvent{}, fmt.Errorf("%w: stream event %s without instance", ErrInvalid, ev.Type)
		}
	}
	return ev, nil
}

// known reports whether t is a type this client understands.
func (t EventType) known() bool {
	return t == EventUpsert || t == EventDelete || t == EventReset
}
