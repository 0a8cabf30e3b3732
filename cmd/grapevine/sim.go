package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/urfave/cli/v2"
)

func init() {
	commands = append(commands, simCommand)
}

// The simulator is its own program, grapevine-sim (docs/sim.md): it runs in
// a testing/synctest bubble and renders reports, none of which belongs in
// the binary that runs agents. `grapevine sim ARGS` runs it with ARGS.
func simCommand() *cli.Command {
	return &cli.Command{
		Name:            "sim",
		Usage:           "run network simulations (runs grapevine-sim; see grapevine sim help)",
		ArgsUsage:       "run FILE [-seed S] [-report DIR] [-realtime] | check FILE...",
		SkipFlagParsing: true,
		Description: "Runs the grapevine-sim program with the same arguments: the one next to this\n" +
			"binary, else the one on PATH, or $GRAPEVINE_SIM. Its exit code is this command's.",
		Action: simExec,
	}
}

// simProgram finds grapevine-sim: $GRAPEVINE_SIM, next to this executable,
// then on PATH.
func simProgram() (string, error) {
	if p := os.Getenv("GRAPEVINE_SIM"); p != "" {
		return p, nil
	}
	if self, err := os.Executable(); err == nil {
		p := filepath.Join(filepath.Dir(self), "grapevine-sim")
		if st, err := os.Stat(p); err == nil && !st.IsDir() {
			return p, nil
		}
	}
	p, err := exec.LookPath("grapevine-sim")
	if err != nil {
		return "", errors.New("grapevine-sim not found next to grapevine or on PATH (make build puts both in bin/; or set GRAPEVINE_SIM)")
	}
	return p, nil
}

func simExec(c *cli.Context) error {
	prog, err := simProgram()
	if err != nil {
		return &exitError{code: exitFailure, err: err}
	}
	cmd := exec.CommandContext(c.Context, prog, c.Args().Slice()...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, c.App.Writer, c.App.ErrWriter
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	// A terminal's Ctrl-C reaches both processes; a SIGTERM sent to this one
	// is passed on, so the simulator writes its partial report.
	sig := make(chan os.Signal, 2)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sig)
	if err := cmd.Start(); err != nil {
		return &exitError{code: exitFailure, err: fmt.Errorf("sim: %w", err)}
	}
	waited := make(chan error, 1)
	go func() { waited <- cmd.Wait() }()
	for {
		select {
		case s := <-sig:
			if s == syscall.SIGTERM {
				_ = cmd.Process.Signal(s)
			}
		case err := <-waited:
			var ee *exec.ExitError
			if errors.As(err, &ee) {
				return &exitError{code: ee.ExitCode(), err: fmt.Errorf("sim: %s exited with %d", filepath.Base(prog), ee.ExitCode())}
			}
			if err != nil {
				return &exitError{code: exitFailure, err: fmt.Errorf("sim: %w", err)}
			}
			return nil
		}
	}
}
