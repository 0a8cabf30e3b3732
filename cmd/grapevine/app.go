package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"runtime"

	"github.com/grapevine-sd/grapevine/agent"
	"github.com/urfave/cli/v2"
)

// exitError carries an exit code out of a command.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }

func usageErr(format string, a ...any) error {
	return &exitError{code: exitUsage, err: fmt.Errorf(format, a...)}
}

// commands is the list of subcommand constructors every subcommand file
// appends to in init. Each app gets fresh commands: urfave/cli fills in a
// command's fields (its help name) when an app runs, so sharing them between
// apps (the tests build many in one process) would compound those edits.
var commands []func() *cli.Command

func newApp(stdout, stderr io.Writer) *cli.App {
	return &cli.App{
		Name:      "grapevine",
		Usage:     "a leaderless, partition-tolerant service registry",
		Version:   agent.Version,
		Writer:    stdout,
		ErrWriter: stderr,
		Commands:  newCommands(),
		OnUsageError: func(_ *cli.Context, err error, _ bool) error {
			return &exitError{code: exitUsage, err: err}
		},
		ExitErrHandler: func(*cli.Context, error) {}, // run maps errors to codes
	}
}

func newCommands() []*cli.Command {
	out := []*cli.Command{versionCommand()}
	for _, c := range commands {
		out = append(out, c())
	}
	return out
}

func run(args []string, stdout, stderr io.Writer) int {
	return runContext(context.Background(), args, stdout, stderr)
}

// runContext runs the app until it returns or ctx ends (watch and agent stop
// when it does) and maps its error to an exit code.
func runContext(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	err := newApp(stdout, stderr).RunContext(ctx, args)
	if err == nil {
		return exitOK
	}
	fmt.Fprintf(stderr, "grapevine: %v\n", err)
	var ee *exitError
	if errors.As(err, &ee) {
		return ee.code
	}
	return exitUsage
}

func versionCommand() *cli.Command {
	return &cli.Command{
		Name:  "version",
		Usage: "print the version and protocol version",
		Action: func(c *cli.Context) error {
			fmt.Fprintf(c.App.Writer, "grapevine %s (protocol %d, %s)\n", agent.Version, agent.ProtocolVersion, runtime.Version())
			return nil
		},
	}
}
