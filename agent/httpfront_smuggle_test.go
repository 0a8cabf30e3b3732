package agent_test

import (
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// The framing attacks of the front door (request smuggling, RFC 9112 §11.2):
// a request whose length or syntax two HTTP implementations could read
// differently must be refused and its connection closed, so that whatever
// follows it on the connection is never read as a request of its own. Each
// case sends the attack and, in the same write, a probe request; the probe
// must not be answered unless the attack was read the one way the RFC
// allows.

// smuggleProbe follows each attack on its connection. Connection: close
// makes the server end the connection after it, so reading stops there.
const smuggleProbe = "GET /v1/agent/self HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"

// verdict is what a framing case may be answered.
type verdict int

const (
	// reject: one error answer (a code of the case's list), then the
	// connection closed; the probe is never answered.
	reject verdict = iota
	// rejectOrBoth: reject, or the attack and the probe both answered 2xx:
	// the bytes were read the one way the RFC allows (e.g. obs-fold
	// replaced by a space), never as something else.
	rejectOrBoth
	// both: a valid request: it and the probe are answered 2xx.
	both
	// closeAfter: the attack answered (any status), then the connection
	// closed: the RFC lets the server process it but not trust what follows.
	closeAfter
)

func (v verdict) String() string {
	return [...]string{"reject", "reject or both answered", "both answered", "answer then close"}[v]
}

type smuggleCase struct {
	name  string
	req   string // the attack, sent with the probe after it
	want  verdict
	codes []int  // accepted error codes for reject (default 400)
	why   string // the rule it pins
	// silentOK: closing without an answer also counts as a refusal (an
	// HTTP/2 preface, HTTP/0.9: no HTTP/1.1 answer is understood anyway).
	silentOK bool
	// skip: the behaviour is right but the server today does otherwise
	// (knownGap); the fix enables the case by emptying this.
	skip string
}

// frontHost is the Host line of a well-formed request.
const frontHost = "Host: localhost\r\n"

const frontSelf = "GET /v1/agent/self HTTP/1.1\r\n"

var smuggleCases = []smuggleCase{
	// Controls: the probe is answered after a valid request.
	{name: "control: plain GET", req: frontSelf + frontHost + "\r\n", want: both, why: "keep-alive, RFC 9112 §9.3"},
	{name: "control: body with Content-Length", req: frontSelf + frontHost + "Content-Length: 5\r\n\r\nhello", want: both, why: "RFC 9112 §6.3 rule 6"},
	{name: "control: chunked body", req: frontSelf + frontHost + "Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n", want: both, why: "RFC 9112 §7.1"},
	{name: "control: chunk extension and trailer", req: frontSelf + frontHost + "Transfer-Encoding: chunked\r\n\r\n5;ext=\"v\"\r\nhello\r\n0\r\nX-Trailer: t\r\n\r\n", want: both, why: "chunk-ext and trailer section are valid, RFC 9112 §7.1.1, §7.1.2"},
	{name: "control: transfer coding name in capitals", req: frontSelf + frontHost + "Transfer-Encoding: CHUNKED\r\n\r\n0\r\n\r\n", want: both, why: "coding names are case-insensitive, RFC 9112 §7"},
	{name: "control: lowercase field names", req: frontSelf + "host: localhost\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n", want: both, why: "field names are case-insensitive, RFC 9110 §5.1"},
	{name: "obs-text in a field value", req: frontSelf + frontHost + "X-A: caf\xc3\xa9\r\n\r\n", want: rejectOrBoth, why: "obs-text, RFC 9110 §5.5"},
	{name: "control: Content-Length with leading zeros", req: frontSelf + frontHost + "Content-Length: 005\r\n\r\nhello", want: both, why: "1*DIGIT, RFC 9110 §8.6"},
	{name: "control: chunk sizes with leading zeros and capitals", req: frontSelf + frontHost + "Transfer-Encoding: chunked\r\n\r\n0005\r\nhello\r\nA\r\n0123456789\r\n00\r\n\r\n", want: both, why: "chunk-size = 1*HEXDIG, RFC 9112 §7.1"},
	{name: "h2c upgrade is not taken", req: frontSelf + frontHost + "Connection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n", want: both,
		why: "no 101: a proxy that passes the upgrade on would tunnel unchecked requests (h2c smuggling); RFC 9110 §7.8 lets a server ignore Upgrade"},
	{name: "websocket upgrade is not taken", req: frontSelf + frontHost + "Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n", want: both, why: "no 101, RFC 9110 §7.8"},
	{name: "control: no space after colon", req: frontSelf + "Host:localhost\r\nContent-Length:5\r\n\r\nhello", want: both, why: "OWS is optional, RFC 9112 §5.1"},

	// The ends of persistence: nothing after them is served.
	{name: "Connection: close, then a pipelined request", req: frontSelf + frontHost + "Connection: close\r\n\r\n", want: closeAfter, why: "RFC 9112 §9.6"},
	{name: "HTTP/1.0 without keep-alive, then a pipelined request", req: "GET /v1/agent/self HTTP/1.0\r\n" + frontHost + "\r\n", want: closeAfter, why: "RFC 9112 §9.3"},
	// Robustness (RFC 9112 §2.2: a server SHOULD ignore at least one empty
	// line before a request line).
	{name: "empty line before the first request", req: "\r\n" + frontSelf + frontHost + "\r\n", want: both, why: "RFC 9112 §2.2"},
	{name: "empty line after a body", req: frontSelf + frontHost + "Content-Length: 5\r\n\r\nhello\r\n", want: both, why: "RFC 9112 §2.2"},

	// Content-Length (RFC 9112 §6.3 rule 5: an invalid one is a 400 and the
	// connection closes; RFC 9110 §8.6: 1*DIGIT).
	{name: "two differing Content-Length fields", req: frontSelf + frontHost + "Content-Length: 5\r\nContent-Length: 6\r\n\r\nhello!", want: reject, why: "RFC 9112 §6.3 rule 5"},
	{name: "Content-Length list of differing values", req: frontSelf + frontHost + "Content-Length: 5, 6\r\n\r\nhello!", want: reject, why: "RFC 9112 §6.3 rule 5"},
	{name: "Content-Length list of equal values", req: frontSelf + frontHost + "Content-Length: 5, 5\r\n\r\nhello", want: rejectOrBoth, why: "RFC 9110 §8.6 lets a recipient take 5"},
	{name: "two equal Content-Length fields", req: frontSelf + frontHost + "Content-Length: 5\r\nContent-Length: 5\r\n\r\nhello", want: rejectOrBoth, why: "RFC 9110 §8.6 lets a recipient take 5"},
	{name: "negative Content-Length", req: frontSelf + frontHost + "Content-Length: -5\r\n\r\nhello", want: reject, why: "1*DIGIT, RFC 9110 §8.6"},
	{name: "Content-Length with a plus sign", req: frontSelf + frontHost + "Content-Length: +5\r\n\r\nhello", want: reject, why: "1*DIGIT, RFC 9110 §8.6"},
	{name: "hexadecimal Content-Length", req: frontSelf + frontHost + "Content-Length: 0x5\r\n\r\nhello", want: reject, why: "1*DIGIT, RFC 9110 §8.6"},
	{name: "Content-Length with a letter", req: frontSelf + frontHost + "Content-Length: 5a\r\n\r\nhello", want: reject, why: "1*DIGIT, RFC 9110 §8.6"},
	{name: "Content-Length with a space inside", req: frontSelf + frontHost + "Content-Length: 5 5\r\n\r\nhello", want: reject, why: "1*DIGIT, RFC 9110 §8.6"},
	{name: "Content-Length overflowing 64 bits", req: frontSelf + frontHost + "Content-Length: 99999999999999999999999\r\n\r\nhello", want: reject, codes: []int{400, 413}, why: "RFC 9112 §6.3 rule 5"},
	{name: "empty Content-Length", req: frontSelf + frontHost + "Content-Length: \r\n\r\n", want: reject, why: "1*DIGIT, RFC 9110 §8.6; RFC 9112 §6.3 rule 5"},

	// Transfer-Encoding (RFC 9112 §6.1, §6.3 rules 3 and 4, §7).
	{name: "Content-Length and Transfer-Encoding (CL.TE)", req: frontSelf + frontHost + "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", want: reject, why: "RFC 9112 §6.1: reject, or answer and close; docs/http.md promises 400"},
	{name: "Transfer-Encoding and a longer Content-Length (TE.CL)", req: frontSelf + frontHost + "Transfer-Encoding: chunked\r\nContent-Length: 60\r\n\r\n0\r\n\r\n", want: reject, why: "RFC 9112 §6.1, §6.3 rule 3; docs/http.md promises 400"},
	{name: "unknown transfer coding", req: frontSelf + frontHost + "Transfer-Encoding: gzip\r\n\r\n0\r\n\r\n", want: reject, codes: []int{400, 501}, why: "RFC 9112 §6.1: 501"},
	{name: "chunked not the last coding", req: frontSelf + frontHost + "Transfer-Encoding: chunked, gzip\r\n\r\n0\r\n\r\n", want: reject, codes: []int{400, 501}, why: "RFC 9112 §6.3 rule 4: 400 and close"},
	{name: "unknown coding before chunked", req: frontSelf + frontHost + "Transfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n", want: reject, codes: []int{400, 501}, why: "RFC 9112 §6.1: 501"},
	{name: "chunked twice", req: frontSelf + frontHost + "Transfer-Encoding: chunked, chunked\r\n\r\n0\r\n\r\n", want: reject, codes: []int{400, 501}, why: "RFC 9112 §7: chunked at most once"},
	{name: "two Transfer-Encoding fields", req: frontSelf + frontHost + "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", want: reject, codes: []int{400, 501}, why: "RFC 9112 §7: chunked at most once"},
	{name: "identity transfer coding", req: frontSelf + frontHost + "Transfer-Encoding: identity\r\n\r\n0\r\n\r\n", want: reject, codes: []int{400, 501}, why: "identity is no longer a coding, RFC 9112 §6.1"},
	{name: "transfer coding name with a prefix", req: frontSelf + frontHost + "Transfer-Encoding: xchunked\r\n\r\n0\r\n\r\n", want: reject, codes: []int{400, 501}, why: "RFC 9112 §6.1"},
	{name: "quoted transfer coding", req: frontSelf + frontHost + "Transfer-Encoding: \"chunked\"\r\n\r\n0\r\n\r\n", want: reject, codes: []int{400, 501}, why: "RFC 9112 §6.1"},
	{name: "vertical tab after chunked", req: frontSelf + frontHost + "Transfer-Encoding: chunked\x0b\r\n\r\n0\r\n\r\n", want: reject, codes: []int{400, 501}, why: "RFC 9110 §5.5, RFC 9112 §6.1"},
	{name: "empty Transfer-Encoding", req: frontSelf + frontHost + "Transfer-Encoding: \r\n\r\n", want: reject, codes: []int{400, 501}, why: "RFC 9112 §6.1"},
	{name: "Transfer-Encoding in HTTP/1.0 kept alive", req: "GET /v1/agent/self HTTP/1.0\r\n" + frontHost + "Connection: keep-alive\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n", want: reject, why: "RFC 9112 §6.1: faulty framing; docs/http.md promises 400"},

	// Chunked bodies (RFC 9112 §7.1).
	{name: "chunk size not hex", req: frontSelf + frontHost + "Transfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n", want: reject, why: "chunk-size = 1*HEXDIG"},
	{name: "negative chunk size", req: frontSelf + frontHost + "Transfer-Encoding: chunked\r\n\r\n-5\r\nhello\r\n0\r\n\r\n", want: reject, why: "chunk-size = 1*HEXDIG"},
	{name: "chunk size with 0x", req: frontSelf + frontHost + "Transfer-Encoding: chunked\r\n\r\n0x5\r\nhello\r\n0\r\n\r\n", want: reject, why: "chunk-size = 1*HEXDIG"},
	{name: "chunk size with a plus sign", req: frontSelf + frontHost + "Transfer-Encoding: chunked\r\n\r\n+5\r\nhello\r\n0\r\n\r\n", want: reject, why: "chunk-size = 1*HEXDIG"},
	{name: "empty chunk size", req: frontSelf + frontHost + "Transfer-Encoding: chunked\r\n\r\n\r\nhello\r\n0\r\n\r\n", want: reject, why: "chunk-size = 1*HEXDIG"},
	{name: "chunk size overflowing 64 bits", req: frontSelf + frontHost + "Transfer-Encoding: chunked\r\n\r\n10000000000000005\r\nhello\r\n0\r\n\r\n", want: reject, codes: []int{400, 413}, why: "RFC 9112 §7.1: anticipate and reject overflow"},
	{name: "chunk longer than its size", req: frontSelf + frontHost + "Transfer-Encoding: chunked\r\n\r\n3\r\nhello\r\n0\r\n\r\n", want: reject, why: "chunk-data is followed by CRLF"},
	{name: "chunk shorter than its size", req: frontSelf + frontHost + "Transfer-Encoding: chunked\r\n\r\n9\r\nhello\r\n0\r\n\r\n", want: reject, why: "chunk-data is followed by CRLF"},
	{name: "bare LF after the chunk size", req: frontSelf + frontHost + "Transfer-Encoding: chunked\r\n\r\n5\nhello\r\n0\r\n\r\n", want: reject, why: "chunk = chunk-size [ chunk-ext ] CRLF"},
	{name: "bare LF after the chunk data", req: frontSelf + frontHost + "Transfer-Encoding: chunked\r\n\r\n5\r\nhello\n0\r\n\r\n", want: reject, why: "chunk-data CRLF"},
	{name: "bare CR in a chunk extension", req: frontSelf + frontHost + "Transfer-Encoding: chunked\r\n\r\n5;a\rb\r\nhello\r\n0\r\n\r\n", want: reject, why: "RFC 9112 §2.2: a bare CR is invalid"},

	// Field syntax (RFC 9112 §5, RFC 9110 §5.5, §5.6.2).
	{name: "space between field name and colon", req: frontSelf + frontHost + "Content-Length : 5\r\n\r\nhello", want: reject, why: "RFC 9112 §5.1: MUST 400"},
	{name: "tab between field name and colon", req: frontSelf + frontHost + "Content-Length\t: 5\r\n\r\nhello", want: reject, why: "RFC 9112 §5.1: MUST 400"},
	{name: "space before the colon of Host", req: frontSelf + "Host : localhost\r\n\r\n", want: reject, why: "RFC 9112 §5.1: MUST 400"},
	{name: "space in a field name", req: frontSelf + frontHost + "X A: b\r\n\r\n", want: reject, why: "field-name = token"},
	{name: "separator in a field name", req: frontSelf + frontHost + "X(A): b\r\n\r\n", want: reject, why: "field-name = token"},
	{name: "non-ASCII field name", req: frontSelf + frontHost + "X\xc3\x9cA: b\r\n\r\n", want: reject, why: "field-name = token"},
	{name: "NUL in a field name", req: frontSelf + frontHost + "X\x00A: b\r\n\r\n", want: reject, why: "field-name = token"},
	{name: "empty field name", req: frontSelf + frontHost + ": b\r\n\r\n", want: reject, why: "field-name = token"},
	{name: "field line without a colon", req: frontSelf + frontHost + "X-A\r\n\r\n", want: reject, why: "field-line = field-name \":\" ..."},
	{name: "obs-fold hiding a Transfer-Encoding", req: frontSelf + frontHost + "X-A: x\r\n Transfer-Encoding: chunked\r\n\r\n", want: reject, why: "RFC 9112 §5.2: reject, or replace the fold with a space; docs/http.md promises 400"},
	{name: "obs-fold hiding a Content-Length", req: frontSelf + frontHost + "X-A: x\r\n\tContent-Length: 60\r\n\r\n", want: reject, why: "RFC 9112 §5.2"},
	{name: "whitespace before the first field line", req: frontSelf + " Content-Length: 60\r\n" + frontHost + "\r\n", want: reject, why: "RFC 9112 §2.2: reject, or consume the line unprocessed"},
	{name: "NUL in a field value", req: frontSelf + frontHost + "X-A: a\x00b\r\n\r\n", want: reject, why: "RFC 9110 §5.5: reject, or replace by a space"},
	{name: "bare CR in a field value", req: frontSelf + frontHost + "X-A: a\rContent-Length: 60\r\n\r\n", want: reject, why: "RFC 9110 §5.5, RFC 9112 §2.2"},
	{name: "control byte in a field value", req: frontSelf + frontHost + "X-A: a\x01b\r\n\r\n", want: reject, why: "field-vchar, RFC 9110 §5.5"},
	{name: "bare LF line ends refused", req: "GET /v1/agent/self HTTP/1.1\nHost: localhost\nX-A: b\n\n", want: reject,
		why: "stricter than RFC 9112 §2.2 requires: a proxy that does not take bare LF reads these bytes otherwise"},
	{name: "bare LF inside a CRLF header block", req: frontSelf + frontHost + "X-A: b\nX-B: c\r\n\r\n", want: reject,
		why: "a field line ended by LF among CRLF ones is what smuggles a hidden field past a proxy"},
	{name: "bare CR as line end", req: "GET /v1/agent/self HTTP/1.1\rHost: localhost\r\n\r\n", want: reject, why: "RFC 9112 §2.2: a bare CR is invalid"},

	// Host (RFC 9112 §3.2: 400 without one in HTTP/1.1, with two, or invalid).
	{name: "no Host in HTTP/1.1", req: frontSelf + "X-A: b\r\n\r\n", want: reject, why: "RFC 9112 §3.2: MUST 400"},
	{name: "two Host fields", req: frontSelf + frontHost + frontHost + "\r\n", want: reject, why: "RFC 9112 §3.2: MUST 400"},
	{name: "Host list", req: frontSelf + "Host: localhost, localhost\r\n\r\n", want: reject, why: "RFC 9112 §3.2: MUST 400"},
	{name: "Host with a space", req: frontSelf + "Host: local host\r\n\r\n", want: reject, why: "RFC 9112 §3.2: invalid value, MUST 400"},
	{name: "Host with a path", req: frontSelf + "Host: localhost/x\r\n\r\n", want: reject, why: "RFC 9112 §3.2: invalid value, MUST 400"},

	// Request line (RFC 9112 §3).
	{name: "two spaces after the method", req: "GET  /v1/agent/self HTTP/1.1\r\n" + frontHost + "\r\n", want: rejectOrBoth, why: "RFC 9112 §3: single SP; lenient parsing MAY split on whitespace"},
	{name: "tab as separator", req: "GET\t/v1/agent/self HTTP/1.1\r\n" + frontHost + "\r\n", want: rejectOrBoth, why: "RFC 9112 §3"},
	{name: "space inside the target", req: "GET /v1/agent/ self HTTP/1.1\r\n" + frontHost + "\r\n", want: reject, why: "RFC 9112 §3.2: invalid request-line, no autocorrection"},
	{name: "control byte in the target", req: "GET /v1/agent/\x01self HTTP/1.1\r\n" + frontHost + "\r\n", want: reject, why: "RFC 9112 §3.2, RFC 3986"},
	{name: "NUL in the target", req: "GET /v1/agent/\x00self HTTP/1.1\r\n" + frontHost + "\r\n", want: reject, why: "RFC 9112 §3.2, RFC 3986"},
	{name: "target neither origin- nor absolute-form", req: "GET v1/agent/self HTTP/1.1\r\n" + frontHost + "\r\n", want: reject, why: "RFC 9112 §3.2"},
	{name: "method not a token", req: "G(T /v1/agent/self HTTP/1.1\r\n" + frontHost + "\r\n", want: reject, why: "method = token, RFC 9110 §9.1"},
	{name: "HTTP/2.0 request line", req: "GET /v1/agent/self HTTP/2.0\r\n" + frontHost + "\r\n", want: reject, codes: []int{400, 505}, why: "RFC 9110 §15.6.6"},
	{name: "HTTP/1 without minor version", req: "GET /v1/agent/self HTTP/1\r\n" + frontHost + "\r\n", want: reject, codes: []int{400, 505}, why: "HTTP-version = HTTP-name \"/\" DIGIT \".\" DIGIT"},
	{name: "two-digit minor version", req: "GET /v1/agent/self HTTP/1.10\r\n" + frontHost + "\r\n", want: reject, codes: []int{400, 505}, why: "RFC 9112 §2.3"},
	{name: "lowercase protocol name", req: "GET /v1/agent/self http/1.1\r\n" + frontHost + "\r\n", want: reject, codes: []int{400, 505}, why: "HTTP-name is case-sensitive, RFC 9112 §2.3"},
	{name: "text after the version", req: "GET /v1/agent/self HTTP/1.1 x\r\n" + frontHost + "\r\n", want: reject, codes: []int{400, 505}, why: "RFC 9112 §3"},
	{name: "HTTP/0.9 simple request", req: "GET /v1/agent/self\r\n\r\n", want: reject, silentOK: true, why: "HTTP/0.9 is not served"},
	{name: "HTTP/2 preface", req: "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", want: reject, codes: []int{400, 505}, silentOK: true, why: "HTTP/2 is off (h2c too)"},
}

// TestFrontSmuggling runs every framing case on both listeners. The
// exchanges run at once (a server may linger before it closes after an
// error), then each case is judged in a subtest of its own.
func TestFrontSmuggling(t *testing.T) {
	_, ls := frontAgent(t)
	strict := os.Getenv(strictEnv) == "1"
	type result struct {
		got []*answer
		err error
	}
	res := make([][]result, len(ls))
	var wg sync.WaitGroup
	sem := make(chan struct{}, 64) // well below max_conns_per_client
	for i, l := range ls {
		res[i] = make([]result, len(smuggleCases))
		for j, tc := range smuggleCases {
			if tc.skip != "" && !strict {
				continue
			}
			wg.Go(func() {
				sem <- struct{}{}
				defer func() { <-sem }()
				r := &res[i][j]
				r.got, r.err = exchange(l.addr, tc.req+smuggleProbe, "GET", "GET")
			})
		}
	}
	wg.Wait()
	for i, l := range ls {
		for j, tc := range smuggleCases {
			t.Run(l.name+"/"+tc.name, func(t *testing.T) {
				if tc.skip != "" {
					knownGap(t, tc.skip)
				}
				r := res[i][j]
				if msg := judgeSmuggle(tc, r.got, r.err); msg != "" {
					t.Errorf("%s (%s): %s; want %s", tc.name, tc.why, msg, tc.want)
				}
			})
		}
	}
}

// judgeSmuggle returns what is wrong with the answers to a case, or "".
func judgeSmuggle(tc smuggleCase, got []*answer, err error) string {
	codes := tc.codes
	if codes == nil {
		codes = []int{400}
	}
	var desc []string
	for _, a := range got {
		desc = append(desc, a.String())
	}
	saw := "answers [" + strings.Join(desc, ", ") + "]"
	if err != nil {
		return saw + ", then " + err.Error()
	}
	rejected := len(got) == 1 && slices.Contains(codes, got[0].code) || len(got) == 0 && tc.silentOK
	bothOK := len(got) == 2 && got[0].code/100 == 2 && got[1].code/100 == 2
	ok := false
	switch tc.want {
	case reject:
		ok = rejected
	case rejectOrBoth:
		ok = rejected || bothOK
	case both:
		ok = bothOK
	case closeAfter:
		ok = len(got) == 1
	}
	if ok {
		return ""
	}
	return saw + " and closed"
}

// quietRead is how long a test waits to see that nothing more comes.
const quietRead = 300 * time.Millisecond
