// Package leaktest finds goroutines that outlive the code that started them.
// Every goroutine in Grapevine has an owner that stops it and waits for it;
// tests prove it by comparing the goroutines running before and after.
//
// A Snapshot records the goroutines running at one moment (by goroutine ID, so
// an unrelated goroutine that ended and another that started cannot cancel out,
// as counting would). Wait polls until every goroutine started since the
// snapshot has ended, up to a deadline: in-flight work such as a memberlist probe
// may outlive its owner's Close by a bounded time. Goroutines the runtime or the
// standard library keep for the whole process (the os/signal loop, started by the
// first signal.Notify) are never counted.
//
// Use Check in a test, Main in TestMain, or Take and Wait directly. Check,
// Take and Wait see every goroutine of the process: in a package whose tests run
// in parallel, narrow them with Only to the code under test.
package leaktest

import (
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"
)

// immortal are functions of goroutines that live as long as the process once
// started, whoever started them.
var immortal = []string{
	"os/signal.loop(",
	"os/signal.signal_recv(",
}

// Snapshot is the set of goroutines running at one moment.
type Snapshot map[uint64]bool

// Option narrows which goroutines count.
type Option func(*options)

type options struct {
	only   []string // if set, only goroutines with one of these on their stack count
	ignore []string // goroutines with one of these on their stack never count
}

// Only counts just the goroutines with one of fns (substrings of a stack,
// e.g. "render.(*Engine).watch") on their stack; the rest have owners outside
// the code under test.
func Only(fns ...string) Option { return func(o *options) { o.only = append(o.only, fns...) } }

// Ignore never counts goroutines with one of fns on their stack.
func Ignore(fns ...string) Option { return func(o *options) { o.ignore = append(o.ignore, fns...) } }

// goroutine is one goroutine of a stack dump.
type goroutine struct {
	id    uint64
	stack string
}

// dump returns every goroutine of the process but the caller's.
func dump() []goroutine {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	var out []goroutine
	for i, g := range strings.Split(string(buf), "\n\n") {
		if i == 0 {
			continue // the first is the caller's
		}
		if id, ok := parseID(g); ok {
			out = append(out, goroutine{id, g})
		}
	}
	return out
}

// parseID reads the ID of "goroutine 17 [running]:".
func parseID(stack string) (uint64, bool) {
	rest, ok := strings.CutPrefix(stack, "goroutine ")
	if !ok {
		return 0, false
	}
	num, _, ok := strings.Cut(rest, " ")
	if !ok {
		return 0, false
	}
	id, err := strconv.ParseUint(num, 10, 64)
	return id, err == nil
}

// Take records the goroutines running now.
func Take() Snapshot {
	s := Snapshot{}
	for _, g := range dump() {
		s[g.id] = true
	}
	return s
}

// Leaked returns the stacks of the goroutines running now that were not in s
// and that opts count.
func (s Snapshot) Leaked(opts ...Option) []string {
	var o options
	for _, f := range opts {
		f(&o)
	}
	var out []string
	for _, g := range dump() {
		if s[g.id] || containsAny(g.stack, immortal) || containsAny(g.stack, o.ignore) {
			continue
		}
		if len(o.only) > 0 && !containsAny(g.stack, o.only) {
			continue
		}
		out = append(out, g.stack)
	}
	return out
}

// Wait waits up to timeout for every goroutine started since s (that opts
// count) to end; it returns an error listing those still running then.
func (s Snapshot) Wait(timeout time.Duration, opts ...Option) error {
	deadline := time.Now().Add(timeout)
	for {
		left := s.Leaked(opts...)
		if len(left) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("goroutine leak: %d goroutines still running %v after the code that started them finished:\n\n%s",
				len(left), timeout, strings.Join(left, "\n\n"))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Check fails tb when goroutines started from now on still run timeout after
// tb and its cleanups finished. Call it first in the test, so its cleanup runs
// after every other one (cleanups run last-in first-out).
func Check(tb testing.TB, timeout time.Duration, opts ...Option) {
	tb.Helper()
	s := Take()
	tb.Cleanup(func() {
		if tb.Failed() {
			return // the failure is the news; its goroutines may be stuck
		}
		if err := s.Wait(timeout, opts...); err != nil {
			tb.Error(err)
		}
	})
}

// Main runs the tests of m and, when they pass, fails the package if
// goroutines they started still run timeout later. Use it as
//
//	func TestMain(m *testing.M) { os.Exit(leaktest.Main(m, 10*time.Second)) }
func Main(m *testing.M, timeout time.Duration, opts ...Option) int {
	s := Take()
	code := m.Run()
	if code != 0 {
		return code
	}
	if err := s.Wait(timeout, opts...); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

// Count returns how many goroutines have fn (a substring of a stack, e.g.
// "agent.(*httpServer).follow(") on their stack.
func Count(fn string) int {
	n := 0
	for _, g := range dump() {
		if strings.Contains(g.stack, fn) {
			n++
		}
	}
	return n
}

func containsAny(s string, subs []string) bool {
	for _, sub := range subs {
		if strings.Contains(s, sub) {
			return true
		}
	}
	return false
}
