package render

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"text/template"
	"time"

	"github.com/rs/zerolog"
)

// maxPasses bounds the renders of one template in Once: each pass fetches
// what the previous one used without data, so only a chain of lookups that
// depend on each other this deep fails.
const maxPasses = 16

// Engine renders the templates of a Config. See the package comment for
// what Run and Once do and the concurrency contract.
type Engine struct {
	cfg Config
	log zerolog.Logger

	// templates are owned by the goroutine running Run or Once.
	templates []*entry

	mu       sync.Mutex           // guards reloaded
	reloaded []*template.Template // parsed by Reload, not yet taken by Run
	reloadc  chan struct{}        // cap 1: reloaded was set
}

// entry is one template and what its last render found.
type entry struct {
	Template
	text *template.Template
	// deps are the lookups the last render used; complete whether each had
	// data. A template is rendered again when one of its deps changes, and
	// at every render pass while incomplete.
	deps     map[dep]bool
	complete bool
	// retry: the last complete render could not be written, so the next
	// render pass includes it.
	retry bool
	// dry is the last content printed in dry mode (printed says if any).
	dry     []byte
	printed bool
}

// New checks cfg, reads and parses every template, and (unless Dry) checks
// that every Dest's directory exists. Its errors wrap ErrInvalidConfig or
// ErrTemplate; nothing is written.
func New(cfg Config) (*Engine, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if !cfg.Dry {
		for _, t := range cfg.Templates {
			dir := filepath.Dir(t.Dest)
			fi, err := os.Stat(dir)
			if err == nil && !fi.IsDir() {
				err = errors.New("not a directory")
			}
			if err != nil {
				return nil, fmt.Errorf("%w: template %q: directory of DEST: %w", ErrInvalidConfig, t, err)
			}
		}
	}
	texts, err := loadTemplates(cfg.Templates)
	if err != nil {
		return nil, err
	}
	e := &Engine{
		cfg:     cfg,
		log:     cfg.Logger.With().Str("component", "render").Logger(),
		reloadc: make(chan struct{}, 1),
	}
	for i, t := range cfg.Templates {
		e.templates = append(e.templates, &entry{Template: t, text: texts[i]})
	}
	return e, nil
}

// loadTemplates reads and parses the source of every template.
func loadTemplates(ts []Template) ([]*template.Template, error) {
	out := make([]*template.Template, 0, len(ts))
	for _, t := range ts {
		b, err := os.ReadFile(t.Source)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrTemplate, err)
		}
		text, err := parseTemplate(t.Source, b)
		if err != nil {
			return nil, err
		}
		out = append(out, text)
	}
	return out, nil
}

// Reload reads and parses every template file again. If any fails, it
// returns the error and nothing changes; otherwise Run renders every template
// with the new text at once (or, outside Run, the next Run or Once uses it).
// Safe to call from any goroutine.
func (e *Engine) Reload() error {
	texts, err := loadTemplates(e.cfg.Templates)
	if err != nil {
		return err
	}
	e.mu.Lock()
	e.reloaded = texts
	e.mu.Unlock()
	select {
	case e.reloadc <- struct{}{}:
	default: // already signalled; Run takes the latest
	}
	return nil
}

// takeReload installs the templates of the last Reload, if any.
func (e *Engine) takeReload() bool {
	e.mu.Lock()
	texts := e.reloaded
	e.reloaded = nil
	e.mu.Unlock()
	if texts == nil {
		return false
	}
	for i, t := range e.templates {
		t.text = texts[i]
	}
	e.log.Info().Int("templates", len(texts)).Msg("templates reloaded")
	return true
}

// Once renders every template once from fresh lookups, writes what changed
// and runs the commands of changed files. It renders all templates even if
// some fail, then returns their errors joined; an agent lookup failure
// (ErrLookup) ends it at once.
func (e *Engine) Once(ctx context.Context) error {
	e.takeReload()
	data := map[dep]any{}
	var errs []error
	for _, t := range e.templates {
		for pass := 0; ; pass++ {
			complete, err := e.process(t, data)
			if complete {
				errs = append(errs, err)
				break
			}
			if pass == maxPasses {
				errs = append(errs, fmt.Errorf("%w: %s: lookups still missing after %d passes", ErrTemplate, t.Source, maxPasses))
				break
			}
			var missing []dep
			for d := range t.deps {
				if _, ok := data[d]; !ok {
					missing = append(missing, d)
				}
			}
			slices.SortFunc(missing, func(a, b dep) int { return cmp.Or(cmp.Compare(a.kind, b.kind), cmp.Compare(a.name, b.name)) })
			for _, d := range missing { // in a stable order: the requests are the same every run
				v, _, err := fetch(ctx, e.cfg.Agent, d, 0, 0)
				if err != nil {
					return errors.Join(append(errs, err)...)
				}
				data[d] = v
			}
		}
	}
	return errors.Join(errs...)
}

// process renders t against data. If the render is complete it writes the
// file (or prints it in dry mode) and, when that changed it, runs t's
// command; the error says what failed of these. Incomplete renders do
// nothing.
func (e *Engine) process(t *entry, data map[dep]any) (complete bool, err error) {
	res := execute(t.text, data)
	t.deps, t.complete = res.used, res.complete
	if !res.complete {
		return false, nil
	}
	if res.err != nil {
		return true, fmt.Errorf("%w (file %s kept)", res.err, t.Dest)
	}
	changed, err := e.output(t, res.out)
	t.retry = err != nil
	if err != nil {
		return true, err
	}
	log := e.log.With().Str("dest", t.Dest).Logger()
	if !changed {
		log.Debug().Msg("unchanged")
		return true, nil
	}
	log.Info().Int("bytes", len(res.out)).Msg("rendered")
	if t.Command == "" || e.cfg.Dry {
		return true, nil
	}
	return true, runCommand(log.With().Str("command", t.Command).Logger(), t.Command, e.cfg.ExecTimeout)
}

// output writes content to t's file, or prints it in dry mode, unless it is
// there already.
func (e *Engine) output(t *entry, content []byte) (bool, error) {
	if !e.cfg.Dry {
		return writeFile(t.Dest, content)
	}
	if t.printed && bytes.Equal(t.dry, content) {
		return false, nil
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "> %s\n", t.Dest)
	b.Write(content)
	if len(content) > 0 && content[len(content)-1] != '\n' {
		b.WriteByte('\n')
	}
	if _, err := e.cfg.DryOutput.Write(b.Bytes()); err != nil {
		return false, fmt.Errorf("render: dry output: %w", err)
	}
	t.dry, t.printed = bytes.Clone(content), true
	return true, nil
}

// Run renders the templates and keeps them current until ctx ends, then
// stops every loop and returns nil. It renders at once at start and after
// a Reload; after a change of a dependency, once the changes were quiet for
// Wait.Min (at most Wait.Max after the first). Errors of renders, writes,
// commands and lookups are logged; none ends Run.
func (e *Engine) Run(ctx context.Context) error {
	r := &runner{
		e:       e,
		updates: make(chan update),
		loops:   map[dep]*loop{},
		data:    map[dep]any{},
		changed: map[dep]bool{},
		timer:   time.NewTimer(time.Hour),
	}
	r.timer.Stop()
	defer r.stop()
	e.takeReload()
	r.renderPass(ctx, true)
	for {
		var due <-chan time.Time
		if r.pending {
			due = r.timer.C
		}
		select {
		case <-ctx.Done():
			return nil
		case u := <-r.updates:
			if r.loops[u.from.dep] != u.from {
				continue // a loop stopped meanwhile
			}
			r.data[u.from.dep] = u.value
			r.changed[u.from.dep] = true
			r.arm()
		case <-due:
			r.pending = false
			r.renderPass(ctx, false)
		case <-e.reloadc:
			if e.takeReload() {
				r.renderPass(ctx, true)
			}
		}
	}
}

// runner is the state of one Run, owned by its goroutine.
type runner struct {
	e       *Engine
	updates chan update
	loops   map[dep]*loop
	data    map[dep]any  // latest value of each running loop's dependency
	changed map[dep]bool // dependencies changed since the last render pass
	wg      sync.WaitGroup

	timer   *time.Timer // quiescence: fires when a render pass is due
	pending bool        // the timer runs
	first   time.Time   // first change since the last render pass
}

// arm schedules a render pass Wait.Min from now, but no later than Wait.Max
// after the first change since the last pass.
func (r *runner) arm() {
	now := time.Now()
	if !r.pending {
		r.pending, r.first = true, now
	}
	r.timer.Reset(min(r.e.cfg.Wait.Min, r.first.Add(r.e.cfg.Wait.Max).Sub(now)))
}

// renderPass renders the templates that are due (all of them with all):
// those whose dependencies changed, and those not yet rendered complete or
// written. Then it starts and stops loops to match what the renders used.
func (r *runner) renderPass(ctx context.Context, all bool) {
	for _, t := range r.e.templates {
		if !all && t.complete && !t.retry && !usesAny(t.deps, r.changed) {
			continue
		}
		if _, err := r.e.process(t, r.data); err != nil {
			r.e.log.Error().Err(err).Str("dest", t.Dest).Msg("render failed")
		}
	}
	clear(r.changed)
	r.reconcile(ctx)
}

func usesAny(deps, changed map[dep]bool) bool {
	for d := range changed {
		if deps[d] {
			return true
		}
	}
	return false
}

// reconcile starts a loop for every dependency a template uses and stops
// the loops of dependencies none uses any more (and forgets their data).
func (r *runner) reconcile(ctx context.Context) {
	want := map[dep]bool{}
	for _, t := range r.e.templates {
		for d := range t.deps {
			want[d] = true
		}
	}
	for d, l := range r.loops {
		if !want[d] {
			l.cancel()
			delete(r.loops, d)
			delete(r.data, d)
			r.e.log.Debug().Stringer("dependency", d).Msg("watch stopped")
		}
	}
	for d := range want {
		if r.loops[d] != nil {
			continue
		}
		lctx, cancel := context.WithCancel(ctx)
		l := &loop{dep: d, cancel: cancel}
		r.loops[d] = l
		r.wg.Go(func() { r.e.watch(lctx, l, r.updates) })
		r.e.log.Debug().Stringer("dependency", d).Msg("watch started")
	}
}

// stop ends every loop and waits for them.
func (r *runner) stop() {
	for _, l := range r.loops {
		l.cancel()
	}
	r.wg.Wait()
	r.timer.Stop()
}
