package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/grapevine-sd/grapevine/api"
	"github.com/grapevine-sd/grapevine/internal/render"
	"github.com/rs/zerolog"
	"github.com/urfave/cli/v2"
)

func init() {
	commands = append(commands, func() *cli.Command {
		return clientCommand(&cli.Command{
			Name:  "render",
			Usage: "render templates into files from the local agent; run a command when a file changes",
			Description: "Renders each -template SRC:DEST[:COMMAND] (Go text/template, docs/render.md) from the\n" +
				"local agent's answers into DEST, atomically and only when the content changed, then runs\n" +
				"COMMAND with /bin/sh -c. Keeps the files current with blocking queries until SIGINT/SIGTERM\n" +
				"(exit 0); SIGHUP re-reads the templates. -once renders once and exits.\n" +
				"Exit 0 ok, 1 a -once run failed (agent unreachable, render, write or command failed),\n" +
				"2 usage (flags, a template that does not parse, a missing DEST directory).",
			Flags: []cli.Flag{
				&templateFlag{cli.GenericFlag{Name: "template", Usage: "`SRC:DEST[:COMMAND]`: render template file SRC into DEST, run COMMAND when DEST changed (repeatable; not split on commas)"}},
				&cli.BoolFlag{Name: "once", Usage: "render every template once and exit"},
				&cli.BoolFlag{Name: "dry", Usage: "print renders to stdout instead of writing files; run no command"},
				&cli.StringFlag{Name: "wait", Usage: "quiescence `MIN[:MAX]`: render MIN after the last change, at most MAX after the first (MAX alone: 4×MIN)", Value: render.DefaultConfig().Wait.String()},
				&cli.DurationFlag{Name: "exec-timeout", Usage: "kill a COMMAND running longer than this", Value: render.DefaultConfig().ExecTimeout},
				&cli.StringFlag{Name: "log-level", Usage: "debug, info, warn or error", Value: "info"},
				&cli.BoolFlag{Name: "log-json", Usage: "log JSON lines"},
			},
		}, renderAction)
	})
}

// exitRenderFailed: a -once run failed (docs/cli.md, render).
const exitRenderFailed = 1

// templateFlag is -template: repeatable, and unlike a StringSliceFlag not
// split on commas, since a COMMAND may hold one. Apply gives every run of
// the app a fresh list: the flag itself lives as long as the process.
type templateFlag struct{ cli.GenericFlag }

func (f *templateFlag) Apply(set *flag.FlagSet) error {
	f.Value = &templateSpecs{}
	return f.GenericFlag.Apply(set)
}

// templateSpecs collects the -template values; the action parses them
// (a clean usage error rather than the flag parser's help page).
type templateSpecs struct{ list []string }

func (s *templateSpecs) Set(v string) error {
	s.list = append(s.list, v)
	return nil
}

func (s *templateSpecs) String() string {
	if s == nil {
		return ""
	}
	return strings.Join(s.list, " ")
}

func renderAction(ctx context.Context, c *cli.Context, client *api.Client, args []string) error {
	if len(args) > 0 {
		return usageErr("render takes no arguments, got %q (templates go in -template SRC:DEST[:COMMAND])", args[0])
	}
	cfg := render.DefaultConfig()
	cfg.Agent = client
	if specs, ok := c.Generic("template").(*templateSpecs); ok {
		for _, s := range specs.list {
			t, err := render.ParseTemplateSpec(s)
			if err != nil {
				return usageErr("-template: %v", err)
			}
			cfg.Templates = append(cfg.Templates, t)
		}
	}
	if len(cfg.Templates) == 0 {
		return usageErr("want at least one -template SRC:DEST[:COMMAND]")
	}
	w, err := render.ParseWait(c.String("wait"))
	if err != nil {
		return usageErr("-wait: %v", err)
	}
	cfg.Wait = w
	cfg.ExecTimeout = c.Duration("exec-timeout")
	if cfg.ExecTimeout <= 0 {
		return usageErr("-exec-timeout %v: want a positive duration", cfg.ExecTimeout)
	}
	if _, err := zerolog.ParseLevel(c.String("log-level")); err != nil || c.String("log-level") == "" {
		return usageErr("-log-level %q: want debug, info, warn or error", c.String("log-level"))
	}
	cfg.Logger = newLogger(c.App.ErrWriter, c.String("log-level"), c.Bool("log-json"))
	cfg.Dry = c.Bool("dry")
	cfg.DryOutput = c.App.Writer
	e, err := render.New(cfg)
	if err != nil {
		return usageErr("%v", err)
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	if c.Bool("once") {
		err := e.Once(ctx)
		switch {
		case err == nil:
			return nil
		case ctx.Err() != nil:
			err = fmt.Errorf("interrupted: %w", err)
		case errors.Is(err, render.ErrLookup):
			err = failure(err) // "agent unreachable" or "agent refused", as the other commands say
		}
		return &exitError{code: exitRenderFailed, err: err}
	}
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	cfg.Logger.Info().Str("agent", client.Address()).Int("templates", len(cfg.Templates)).Msg("render started")
	done := make(chan error, 1)
	go func() { done <- e.Run(ctx) }()
	for {
		select {
		case err := <-done:
			cfg.Logger.Info().Msg("render stopped")
			return err
		case <-hup:
			if err := e.Reload(); err != nil {
				cfg.Logger.Error().Err(err).Msg("reload failed; keeping the templates in use")
			}
		}
	}
}
