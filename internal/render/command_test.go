package render

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/grapevine-sd/grapevine/internal/leaktest"
	"github.com/rs/zerolog"
)

// logBuffer collects JSON log lines, safe for the engine's writes and the
// test's reads.
type logBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func (l *logBuffer) logger() zerolog.Logger { return zerolog.New(l).Level(zerolog.DebugLevel) }

func TestRunCommand(t *testing.T) {
	var logs logBuffer
	if err := runCommand(logs.logger(), "echo out; echo err >&2; printf partial", 10*time.Second); err != nil {
		t.Fatalf("runCommand: %v", err)
	}
	for _, want := range []string{`"line":"out"`, `"line":"err"`, `"line":"partial"`, `"message":"command done"`} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("log lacks %s:\n%s", want, logs.String())
		}
	}
}

func TestRunCommandFails(t *testing.T) {
	var logs logBuffer
	err := runCommand(logs.logger(), "echo broken; exit 3", 10*time.Second)
	if !errors.Is(err, errCommand) || !strings.Contains(err.Error(), "exit status 3") {
		t.Errorf("err %v, want a command error with exit status 3", err)
	}
	if !strings.Contains(logs.String(), `"line":"broken"`) || !strings.Contains(logs.String(), `"message":"command failed"`) {
		t.Errorf("log:\n%s", logs.String())
	}
}

// TestRunCommandTimeout: on timeout the shell and what it started in the
// background are killed, and the error says so.
func TestRunCommandTimeout(t *testing.T) {
	pidFile := filepath.Join(t.TempDir(), "pid")
	var logs logBuffer
	start := time.Now()
	err := runCommand(logs.logger(), fmt.Sprintf("sleep 60 & echo $! > %s; wait", pidFile), 200*time.Millisecond)
	if !errors.Is(err, errCommand) || !strings.Contains(err.Error(), "timed out after 200ms, killed") {
		t.Fatalf("err %v, want a timeout", err)
	}
	if took := time.Since(start); took > 30*time.Second {
		t.Errorf("took %v: the command was not killed at its timeout", took)
	}
	if err := leaktest.WaitPIDFile(pidFile, 10*time.Second); err != nil {
		t.Fatalf("the background child still runs after the timeout: %v", err)
	}
}

func TestLineLoggerBounds(t *testing.T) {
	var logs logBuffer
	l := &lineLogger{log: logs.logger()}
	long := strings.Repeat("x", 3*maxLineBytes)
	fmt.Fprintf(l, "%s\n", long)
	for i := range maxOutputLines + 5 {
		fmt.Fprintf(l, "line %d\n", i)
	}
	l.flush()
	out := logs.String()
	if strings.Contains(out, strings.Repeat("x", maxLineBytes+1)) || !strings.Contains(out, strings.Repeat("x", maxLineBytes)) {
		t.Error("a long line is not cut at maxLineBytes")
	}
	if n := strings.Count(out, `"message":"command output"`); n != maxOutputLines {
		t.Errorf("%d lines logged, want %d", n, maxOutputLines)
	}
	if !strings.Contains(out, `"lines":6,"message":"command output: more lines not logged"`) {
		t.Errorf("no note of the 6 lines left out:\n%s", out[len(out)-300:])
	}
}
