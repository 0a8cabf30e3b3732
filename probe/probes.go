package probe

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os/exec"
	"strings"
	"syscall"
	"time"
)

// probeFunc runs one probe. It must return soon after ctx is done.
type probeFunc func(ctx context.Context) (Status, string)

// userAgent is sent by HTTP checks.
const userAgent = "grapevine-probe"

// newProbe builds the probe of a validated, non-TTL check.
func newProbe(c Check) probeFunc {
	switch c.Type {
	case HTTP:
		return httpProbe(c)
	case TCP:
		return tcpProbe(c)
	case GRPC:
		return grpcProbe(c)
	default:
		return execProbe(c)
	}
}

// httpProbe: a status in ExpectStatus is passing, 429 Too Many Requests is
// warning (the service is alive but shedding load), anything else and any
// transport error is critical. Redirects are not followed. Keep-alives are off, so no idle connection
// outlives a probe, and no proxy from the environment is used: checks target
// the local host.
func httpProbe(c Check) probeFunc {
	tr := &http.Transport{
		Proxy:             nil,
		DialContext:       dialer(c).DialContext,
		DisableKeepAlives: true,
		TLSClientConfig:   &tls.Config{InsecureSkipVerify: c.TLSSkipVerify}, //nolint:gosec // operator's explicit choice
	}
	client := &http.Client{
		Transport: tr,
		// A redirect is the target's answer, judged by ExpectStatus; following
		// it could leave the host.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	expect := *c.ExpectStatus
	return func(ctx context.Context) (Status, string) {
		req, err := http.NewRequestWithContext(ctx, c.Method, c.Target, nil)
		if err != nil {
			return Critical, fmt.Sprintf("HTTP %s %s: %v", c.Method, c.Target, err)
		}
		req.Header.Set("User-Agent", userAgent)
		for k, v := range c.Headers {
			if strings.EqualFold(k, "Host") {
				req.Host = v
				continue
			}
			req.Header.Set(k, v)
		}
		resp, err := client.Do(req)
		if err != nil {
			return Critical, fmt.Sprintf("HTTP %s %s: %v", c.Method, c.Target, timeoutErr(ctx, err, c.Timeout))
		}
		var body []byte
		if !c.OmitBody {
			body, _ = io.ReadAll(io.LimitReader(resp.Body, MaxOutput))
		}
		_ = resp.Body.Close()
		st := Critical
		switch code := resp.StatusCode; {
		case expect.Min <= code && code <= expect.Max:
			st = Passing
		case code == http.StatusTooManyRequests:
			st = Warning
		}
		out := fmt.Sprintf("HTTP %s %s: %s", c.Method, c.Target, resp.Status)
		if len(body) > 0 {
			out += "\n" + string(body)
		}
		return st, clipOutput(out)
	}
}

// tcpProbe: a completed connect is passing, anything else critical.
func tcpProbe(c Check) probeFunc {
	d := dialer(c)
	return func(ctx context.Context) (Status, string) {
		conn, err := d.DialContext(ctx, "tcp", c.Target)
		if err != nil {
			return Critical, fmt.Sprintf("TCP connect %s: %v", c.Target, timeoutErr(ctx, err, c.Timeout))
		}
		_ = conn.Close()
		return Passing, fmt.Sprintf("TCP connect %s: success", c.Target)
	}
}

// dialer is the dialer of c's probes: its Control hook asks c.AllowAddr
// about the address each connection is about to be made to.
func dialer(c Check) *net.Dialer {
	d := &net.Dialer{Resolver: c.resolver}
	if allow := c.AllowAddr; allow != nil {
		d.Control = func(_, address string, _ syscall.RawConn) error {
			ap, err := netip.ParseAddrPort(address)
			if err != nil {
				return fmt.Errorf("probe: dial %s: not an address", address)
			}
			return allow(ap.Addr())
		}
	}
	return d
}

// execWaitDelay bounds how long a probe waits for the output pipes after its
// process exited or was killed (a background grandchild may hold them open).
const execWaitDelay = time.Second

// execProbe runs Args without a shell, stdin from /dev/null, stdout and stderr
// captured together (first MaxOutput bytes). Exit 0 is passing, 1 warning,
// anything else (and failing to start) critical. On timeout the whole process
// group is killed (on Unix).
func execProbe(c Check) probeFunc {
	return func(ctx context.Context) (Status, string) {
		cmd := exec.CommandContext(ctx, c.Args[0], c.Args[1:]...)
		out := &capWriter{max: MaxOutput}
		cmd.Stdout, cmd.Stderr = out, out
		cmd.WaitDelay = execWaitDelay
		setProcessGroup(cmd)
		err := cmd.Run()
		text := out.String()
		if out.cut {
			text += truncatedMark
		}
		if ctx.Err() != nil {
			return Critical, appendLine(text, fmt.Sprintf("exec %s: timed out after %s, killed", c.Args[0], c.Timeout))
		}
		var exit *exec.ExitError
		switch {
		case err == nil:
			return Passing, clipOutput(text)
		case errors.As(err, &exit) && exit.ExitCode() == 1:
			return Warning, clipOutput(text)
		default:
			return Critical, appendLine(text, fmt.Sprintf("exec %s: %v", c.Args[0], err))
		}
	}
}

// appendLine adds a line of our own after a probe's output, keeping the line
// whole if the output has to be cut.
func appendLine(output, line string) string {
	if output == "" {
		return clipOutput(line)
	}
	line = truncate(line, MaxOutput/2)
	return truncate(strings.TrimRight(output, "\n"), MaxOutput-len(line)-1) + "\n" + line
}

// timeoutErr names a timeout plainly instead of a wrapped context error.
func timeoutErr(ctx context.Context, err error, timeout time.Duration) error {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return fmt.Errorf("timed out after %s", timeout)
	}
	return err
}

// capWriter keeps the first max bytes written and discards the rest, still
// reporting success so the child does not die of a broken pipe.
type capWriter struct {
	buf []byte
	max int
	cut bool
}

func (w *capWriter) Write(p []byte) (int, error) {
	if room := w.max - len(w.buf); room > 0 {
		w.buf = append(w.buf, p[:min(room, len(p))]...)
		if len(p) > room {
			w.cut = true
		}
	} else if len(p) > 0 {
		w.cut = true
	}
	return len(p), nil
}

func (w *capWriter) String() string { return string(w.buf) }
