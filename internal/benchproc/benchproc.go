// Package benchproc holds what the benchmark commands (internal/benchhttp,
// internal/benchdns) share: starting a real agent process, waiting for a
// server to answer, free ports, and the median of alternating rounds.
package benchproc

import (
	"context"
	"fmt"
	"net"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Start runs bin with args in its own process group, killed with the
// group when stop is called or the parent dies.
func Start(ctx context.Context, bin string, args ...string) (stop func(), err error) {
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", bin, err)
	}
	return func() { _ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL); _ = cmd.Wait() }, nil
}

// WaitUp calls check every 100 ms until it succeeds, for at most 10 s.
func WaitUp(ctx context.Context, check func() error) error {
	var err error
	for range 100 {
		if err = check(); err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	return fmt.Errorf("not up within 10s: %w", err)
}

// FreePort returns a port free for both UDP and TCP on 127.0.0.1, 0 if none
// was found in a few tries.
func FreePort() int {
	for range 20 {
		l, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			return 0
		}
		port := l.LocalAddr().(*net.UDPAddr).Port
		t, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		l.Close()
		if err == nil {
			t.Close()
			return port
		}
	}
	return 0
}

// Median is the median of v (not modified).
func Median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s) == 0 {
		return 0
	}
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// Rounds formats the rounds' figures: "1200 1350 1290".
func Rounds(v []float64) string {
	s := make([]string, len(v))
	for i, x := range v {
		s[i] = strconv.FormatFloat(x, 'f', 0, 64)
	}
	return strings.Join(s, " ")
}
