package render

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"path/filepath"
	"strings"
	"time"

	"github.com/grapevine-sd/grapevine/api"
	"github.com/rs/zerolog"
)

// Sentinel errors.
var (
	// ErrInvalidConfig wraps every reason Validate rejects a Config, and the
	// syntax errors of ParseTemplateSpec and ParseWait.
	ErrInvalidConfig = errors.New("render: invalid config")
	// ErrTemplate wraps a template file that cannot be read or parsed, and a
	// render that failed (a function's error, output too large).
	ErrTemplate = errors.New("render: template")
	// ErrLookup wraps a lookup the agent could not answer (unreachable, or it
	// refused the request).
	ErrLookup = errors.New("render: lookup failed")
)

// Agent is what the engine asks of the local agent. *api.Client implements
// it; tests substitute fakes. Every method may block (Service for up to the
// wait of a blocking query) and must return when ctx ends.
type Agent interface {
	Service(ctx context.Context, name string, opts api.QueryOptions) ([]api.Instance, api.QueryMeta, error)
	Services(ctx context.Context) ([]api.ServiceSummary, error)
	Members(ctx context.Context) ([]api.Member, error)
}

var _ Agent = (*api.Client)(nil)

// Template is one template to render: the -template SRC:DEST[:COMMAND] flag.
type Template struct {
	// Source is the template file, read at New and on Reload.
	Source string
	// Dest is the file written. Its directory must exist (unless Config.Dry).
	Dest string
	// Command, if not empty, runs through /bin/sh -c after Dest changed.
	Command string
}

// String is the spec form, SRC:DEST[:COMMAND].
func (t Template) String() string {
	s := t.Source + ":" + t.Dest
	if t.Command != "" {
		s += ":" + t.Command
	}
	return s
}

// ParseTemplateSpec parses SRC:DEST[:COMMAND]. SRC and DEST are split at the
// first two colons (so paths cannot hold one); COMMAND is the rest, colons
// included. Errors wrap ErrInvalidConfig.
func ParseTemplateSpec(s string) (Template, error) {
	src, rest, ok := strings.Cut(s, ":")
	if !ok {
		return Template{}, fmt.Errorf("%w: template %q: want SRC:DEST[:COMMAND]", ErrInvalidConfig, s)
	}
	dest, cmd, hasCmd := strings.Cut(rest, ":")
	t := Template{Source: src, Dest: dest, Command: cmd}
	switch {
	case strings.TrimSpace(src) == "":
		return Template{}, fmt.Errorf("%w: template %q: empty SRC", ErrInvalidConfig, s)
	case strings.TrimSpace(dest) == "":
		return Template{}, fmt.Errorf("%w: template %q: empty DEST", ErrInvalidConfig, s)
	case hasCmd && strings.TrimSpace(cmd) == "":
		return Template{}, fmt.Errorf("%w: template %q: empty COMMAND after the second ':'", ErrInvalidConfig, s)
	}
	return t, nil
}

// Wait is the quiescence window: a change is rendered Min after the last
// change of a burst, but at most Max after the first one, so a service that
// never stops changing is still rendered every Max.
type Wait struct {
	Min, Max time.Duration
}

func (w Wait) String() string { return w.Min.String() + ":" + w.Max.String() }

// ParseWait parses MIN[:MAX], each a Go duration ("500ms", "5s"; "0" is
// zero). Without MAX it is 4×MIN. MIN 0 renders at every change. Errors wrap
// ErrInvalidConfig.
func ParseWait(s string) (Wait, error) {
	minS, maxS, hasMax := strings.Cut(s, ":")
	parse := func(what, v string) (time.Duration, error) {
		d, err := time.ParseDuration(v)
		if err != nil || d < 0 {
			return 0, fmt.Errorf("%w: wait %q: %s %q is not a duration like 500ms", ErrInvalidConfig, s, what, v)
		}
		return d, nil
	}
	lo, err := parse("MIN", minS)
	if err != nil {
		return Wait{}, err
	}
	if !hasMax {
		if lo > math.MaxInt64/4 {
			return Wait{}, fmt.Errorf("%w: wait %q: MIN too large", ErrInvalidConfig, s)
		}
		return Wait{Min: lo, Max: 4 * lo}, nil
	}
	hi, err := parse("MAX", maxS)
	if err != nil {
		return Wait{}, err
	}
	w := Wait{Min: lo, Max: hi}
	if err := w.validate(); err != nil {
		return Wait{}, err
	}
	return w, nil
}

func (w Wait) validate() error {
	if w.Min < 0 || w.Max < w.Min {
		return fmt.Errorf("%w: wait %s: want 0 <= MIN <= MAX", ErrInvalidConfig, w)
	}
	return nil
}

// Config configures an Engine.
type Config struct {
	// Agent answers the lookups: an *api.Client of the local agent. Required.
	Agent Agent
	// Templates to render, at least one, with distinct Dest.
	Templates []Template
	// Wait is the quiescence window after a change. Default 500ms:5s.
	Wait Wait
	// ExecTimeout bounds each command run; then its process group is killed.
	// Default 30s.
	ExecTimeout time.Duration
	// QueryWait is the wait of each blocking query. Default 1m.
	QueryWait time.Duration
	// PollInterval is how often the service list and the members are read
	// when a template uses them. Default 5s.
	PollInterval time.Duration
	// RetryMin and RetryMax bound the backoff of a lookup after a failure:
	// RetryMin doubling to RetryMax. Default 100ms and 5s (as grapevine watch).
	RetryMin, RetryMax time.Duration
	// Dry writes every rendered content to DryOutput (a "> DEST" line, then
	// the content) instead of the files, and runs no command.
	Dry bool
	// DryOutput receives dry renders. Default io.Discard.
	DryOutput io.Writer
	// Logger receives renders, writes, commands and agent errors. Default
	// zerolog.Nop().
	Logger zerolog.Logger
}

// DefaultConfig returns a Config with the defaults documented on its fields;
// Agent and Templates are left to the caller.
func DefaultConfig() Config {
	return Config{
		Wait:         Wait{Min: 500 * time.Millisecond, Max: 5 * time.Second}, // a deploy's burst of changes, one reload; never more than 5 s behind
		ExecTimeout:  30 * time.Second,                                        // a reload is quick; one that takes 30 s is stuck
		QueryWait:    time.Minute,                                             // a dead connection is noticed within wait + the client's timeout
		PollInterval: 5 * time.Second,                                         // a loopback read; cheap, and the list changes rarely
		RetryMin:     100 * time.Millisecond,                                  // an agent restart is over in a moment
		RetryMax:     5 * time.Second,                                         // a down agent is retried often enough, quietly
		DryOutput:    io.Discard,
		Logger:       zerolog.Nop(),
	}
}

// Validate reports a Config that New cannot use. Errors wrap ErrInvalidConfig.
func (c Config) Validate() error {
	if c.Agent == nil {
		return fmt.Errorf("%w: no agent", ErrInvalidConfig)
	}
	if len(c.Templates) == 0 {
		return fmt.Errorf("%w: no template", ErrInvalidConfig)
	}
	if err := c.Wait.validate(); err != nil {
		return err
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"exec timeout", c.ExecTimeout}, {"query wait", c.QueryWait}, {"poll interval", c.PollInterval}, {"retry min", c.RetryMin}, {"retry max", c.RetryMax}} {
		if d.v <= 0 {
			return fmt.Errorf("%w: %s %v must be positive", ErrInvalidConfig, d.name, d.v)
		}
	}
	if c.RetryMax < c.RetryMin {
		return fmt.Errorf("%w: retry max %v below retry min %v", ErrInvalidConfig, c.RetryMax, c.RetryMin)
	}
	if c.Dry && c.DryOutput == nil {
		return fmt.Errorf("%w: dry run without an output", ErrInvalidConfig)
	}
	sources := map[string]bool{}
	for _, t := range c.Templates {
		sources[filepath.Clean(t.Source)] = true
	}
	dests := map[string]bool{}
	for _, t := range c.Templates {
		if t.Source == "" || t.Dest == "" {
			return fmt.Errorf("%w: template %q: empty SRC or DEST", ErrInvalidConfig, t)
		}
		d := filepath.Clean(t.Dest)
		if sources[d] {
			return fmt.Errorf("%w: template %q: DEST %s is a template source: it would be overwritten", ErrInvalidConfig, t, t.Dest)
		}
		if dests[d] {
			return fmt.Errorf("%w: two templates write %s", ErrInvalidConfig, t.Dest)
		}
		dests[d] = true
	}
	return nil
}
