package render

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"time"

	"github.com/rs/zerolog"
)

// Bounds of a command's logged output: a chatty reload script cannot flood
// the log.
const (
	maxOutputLines = 100
	maxLineBytes   = 1024
)

// cmdWaitDelay bounds how long a command's output is read after it exited
// or was killed (a background child may keep the pipe open).
const cmdWaitDelay = time.Second

// errCommand wraps a command that failed, timed out or could not start.
var errCommand = errors.New("render: command failed")

// runCommand runs command through /bin/sh -c with stdin from /dev/null and
// the engine's environment, for at most timeout (then its process group is
// killed). Each line of its output is logged; so is its end. A shutdown of
// the engine does not cut it short: it is bounded by timeout only.
func runCommand(log zerolog.Logger, command string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := shellCommand(ctx, command)
	out := &lineLogger{log: log}
	cmd.Stdout, cmd.Stderr = out, out // one writer: exec calls it from one goroutine
	cmd.WaitDelay = cmdWaitDelay
	start := time.Now()
	err := cmd.Run()
	out.flush()
	took := time.Since(start)
	var exit *exec.ExitError
	switch {
	case errors.Is(ctx.Err(), context.DeadlineExceeded):
		err = fmt.Errorf("%w: timed out after %v, killed", errCommand, timeout)
	case errors.As(err, &exit):
		err = fmt.Errorf("%w: %v", errCommand, exit.ProcessState)
	case err != nil:
		err = fmt.Errorf("%w: %w", errCommand, err)
	}
	if err != nil {
		log.Error().Err(err).Dur("took", took).Msg("command failed")
		return err
	}
	log.Info().Dur("took", took).Msg("command done")
	return nil
}

// lineLogger logs each line written to it, at most maxOutputLines lines of
// at most maxLineBytes each; flush logs a last partial line and how many
// lines were left out. Not safe for concurrent writes.
type lineLogger struct {
	log     zerolog.Logger
	partial []byte
	lines   int
}

func (l *lineLogger) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 {
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			room := max(0, maxLineBytes-len(l.partial))
			l.partial = append(l.partial, p[:min(room, len(p))]...)
			break
		}
		l.partial = append(l.partial, p[:min(i, max(0, maxLineBytes-len(l.partial)))]...)
		l.emit()
		p = p[i+1:]
	}
	return n, nil
}

func (l *lineLogger) emit() {
	if l.lines < maxOutputLines {
		l.log.Info().Str("line", string(l.partial)).Msg("command output")
	}
	l.lines++
	l.partial = l.partial[:0]
}

func (l *lineLogger) flush() {
	if len(l.partial) > 0 {
		l.emit()
	}
	if l.lines > maxOutputLines {
		l.log.Info().Int("lines", l.lines-maxOutputLines).Msg("command output: more lines not logged")
	}
}
