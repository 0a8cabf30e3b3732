package httpserve

import (
	"bytes"
	"net/http"
)

// checkFraming refuses, with 400, the requests whose framing a server in
// front of the agent could read differently (request smuggling, RFC 9112
// section 11.2), which net/http's parser accepts after dropping the
// evidence:
//
//   - both Content-Length and Transfer-Encoding (section 6.1: the server
//     must at least close the connection after answering; it may refuse);
//   - Transfer-Encoding in an HTTP/1.0 request (section 6.1: its framing is
//     faulty);
//   - a line of the header ended by a bare LF (section 2.2 lets a server
//     refuse it);
//   - a field line folded onto the next (obs-fold; section 5.2 lets a
//     server refuse it).
//
// raw holds the request's line and header as received, and maybe more.
func checkFraming(raw []byte, req *http.Request) error {
	var cl, te bool
	for first := true; ; first = false {
		i := bytes.IndexByte(raw, '\n')
		if i < 0 {
			return nil // not all kept (cannot happen: the parser read it)
		}
		line := raw[:i]
		raw = raw[i+1:]
		if len(line) == 0 || line[len(line)-1] != '\r' {
			return statusError{http.StatusBadRequest, "line not ended by CRLF"}
		}
		line = line[:len(line)-1]
		if len(line) == 0 {
			break // the end of the header
		}
		if first {
			continue
		}
		if line[0] == ' ' || line[0] == '\t' {
			return statusError{http.StatusBadRequest, "folded header field"}
		}
		name, _, _ := bytes.Cut(line, []byte(":"))
		switch {
		case bytes.EqualFold(name, []byte("Content-Length")):
			cl = true
		case bytes.EqualFold(name, []byte("Transfer-Encoding")):
			te = true
		}
	}
	switch {
	case te && cl:
		return statusError{http.StatusBadRequest, "both Content-Length and Transfer-Encoding"}
	case te && !req.ProtoAtLeast(1, 1):
		return statusError{http.StatusBadRequest, "Transfer-Encoding in an HTTP/1.0 request"}
	}
	return nil
}
