package render

import (
	"fmt"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"
)

// TestMain fails the package when a goroutine of the engine outlives the
// tests: Run must stop every loop it started. Only goroutines running this
// package's code count (HTTP transports and the agents of the tests have
// owners of their own).
func TestMain(m *testing.M) {
	code := m.Run()
	if code == 0 {
		if stacks := renderGoroutines(5 * time.Second); stacks != "" {
			fmt.Fprintf(os.Stderr, "goroutine leak: engine goroutines still running after the tests\n%s", stacks)
			code = 1
		}
	}
	os.Exit(code)
}

// renderGoroutines waits up to timeout for no goroutine to have a function
// of this package on its stack (besides the test runner itself) and returns
// the stacks of those left.
func renderGoroutines(timeout time.Duration) string {
	deadline := time.Now().Add(timeout)
	for {
		var left []string
		buf := make([]byte, 1<<20)
		for g := range strings.SplitSeq(string(buf[:runtime.Stack(buf, true)]), "\n\n") {
			if strings.Contains(g, "internal/render.(*Engine).watch") || strings.Contains(g, "internal/render.(*Engine).Run") {
				left = append(left, g)
			}
		}
		if len(left) == 0 || time.Now().After(deadline) {
			return strings.Join(left, "\n\n")
		}
		time.Sleep(20 * time.Millisecond)
	}
}
