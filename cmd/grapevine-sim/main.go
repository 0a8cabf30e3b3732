// Command grapevine-sim runs simulator scenarios (docs/sim.md): many real
// agents in one process over a simulated network, in virtual time, with the
// guarantees checked and a report written.
//
// It is its own binary, not part of the agent's: virtual time needs a
// testing/synctest bubble, which only the testing package can make, and the
// simulator and its report have no business in the binary that runs on
// every host. `grapevine sim ...` runs this program.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/grapevine-sd/grapevine/agent"
	"github.com/grapevine-sd/grapevine/sim"
	"github.com/urfave/cli/v2"
)

// Exit codes, documented in docs/sim.md.
const (
	exitOK          = 0
	exitFailed      = 1 // an invariant failed
	exitUsage       = 2 // bad flags or arguments, invalid scenario
	exitHarness     = 3 // the simulator itself failed
	exitInterrupted = 4 // stopped by a signal; the partial report was written
)

// exitNow ends the process (tests replace it: the run then goes on to stop
// its nodes and returns).
var exitNow = os.Exit

func main() {
	ctx, stop := signals()
	defer stop()
	os.Exit(run(ctx, os.Args, os.Stdout, os.Stderr))
}

// signals returns a context cancelled by the first SIGINT or SIGTERM (the
// run stops and writes its partial report); a second one exits at once.
func signals() (context.Context, func()) {
	ctx, cancel := context.WithCancel(context.Background())
	ch := make(chan os.Signal, 2)
	signal.Notify(ch, os.Interrupt, syscall.SIGTERM)
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		select {
		case <-ch:
			fmt.Fprintln(os.Stderr, "\ngrapevine-sim: stopping (the partial report follows); signal again to quit at once")
			cancel()
		case <-done:
			return
		}
		select {
		case <-ch:
			sim.RemoveRunDirs()
			os.Exit(130)
		case <-done:
		}
	})
	return ctx, func() {
		signal.Stop(ch)
		close(done)
		wg.Wait()
		cancel()
	}
}

// exitError carries an exit code out of a command.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }

func usageErr(format string, a ...any) error {
	return &exitError{code: exitUsage, err: fmt.Errorf(format, a...)}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	app := &cli.App{
		Name:      "grapevine-sim",
		Usage:     "run Grapevine network simulations (docs/sim.md)",
		Version:   agent.Version,
		Writer:    stdout,
		ErrWriter: stderr,
		Commands:  []*cli.Command{runCommand(), checkCommand()},
		OnUsageError: func(_ *cli.Context, err error, _ bool) error {
			return &exitError{code: exitUsage, err: err}
		},
		ExitErrHandler: func(*cli.Context, error) {},
	}
	err := app.RunContext(ctx, permute(args))
	if err == nil {
		return exitOK
	}
	fmt.Fprintf(stderr, "grapevine-sim: %v\n", err)
	var ee *exitError
	if errors.As(err, &ee) {
		return ee.code
	}
	return exitUsage
}

// valueFlags are the flags that take a value (for permute).
var valueFlags = map[string]bool{"seed": true, "report": true, "progress": true, "cpuprofile": true}

// permute moves flags that follow positional arguments before them, so
// `grapevine-sim run FILE -seed 3` works (urfave/cli stops at the first
// positional argument).
func permute(args []string) []string {
	if len(args) < 3 {
		return args
	}
	head := args[:2] // program, command
	var flags, pos []string
	rest := args[2:]
	for i := 0; i < len(rest); i++ {
		a := rest[i]
		if a == "--" {
			pos = append(pos, rest[i+1:]...)
			break
		}
		if strings.HasPrefix(a, "-") && len(a) > 1 {
			flags = append(flags, a)
			name := strings.TrimLeft(a, "-")
			if valueFlags[name] && i+1 < len(rest) {
				flags = append(flags, rest[i+1])
				i++
			}
			continue
		}
		pos = append(pos, a)
	}
	out := append([]string{}, head...)
	out = append(out, flags...)
	return append(out, pos...)
}

func runCommand() *cli.Command {
	return &cli.Command{
		Name:      "run",
		Usage:     "run a scenario file and check the guarantees",
		ArgsUsage: "FILE",
		Description: "Runs the scenario (docs/sim.md) with real agents over a simulated network, in virtual\n" +
			"time: the clock jumps whenever every agent waits, so a run takes as long as the CPU\n" +
			"needs (-realtime: as long as it simulates). Prints the step log and a progress line to\n" +
			"stderr and the summary to stdout. SIGINT or SIGTERM stops the run and still prints and\n" +
			"writes the (partial) report. Exit 0 if every invariant held, 1 if one failed, 2 on usage\n" +
			"errors or an invalid scenario, 3 if the harness failed, 4 if interrupted.",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "seed", Usage: "override the scenario's seed `S` (an unsigned integer)"},
			&cli.StringFlag{Name: "report", Usage: "write the HTML report with plots to `DIR`/index.html"},
			&cli.BoolFlag{Name: "realtime", Usage: "run in real time instead of virtual time"},
			&cli.StringFlag{Name: "cpuprofile", Usage: "write a CPU profile (go tool pprof) to `FILE`"},
			&cli.StringFlag{Name: "progress", Value: "auto", Usage: "progress line on stderr: auto (a terminal: redrawn every second; else a line every 10 s), on, off"},
		},
		Action: simRun,
	}
}

func checkCommand() *cli.Command {
	return &cli.Command{
		Name:      "check",
		Usage:     "parse and validate scenario files without running them",
		ArgsUsage: "FILE...",
		Action: func(c *cli.Context) error {
			if c.NArg() == 0 {
				return usageErr("check needs at least one scenario FILE")
			}
			var bad int
			for _, f := range c.Args().Slice() {
				sc, err := sim.Load(f)
				if err != nil {
					fmt.Fprintln(c.App.ErrWriter, err)
					bad++
					continue
				}
				fmt.Fprintf(c.App.Writer, "%s: ok (%s: %d nodes, %d steps)\n", f, sc.Name, sc.Nodes, len(sc.Steps))
			}
			if bad > 0 {
				return usageErr("%d of %d scenarios invalid", bad, c.NArg())
			}
			return nil
		},
	}
}

func simRun(c *cli.Context) error {
	if c.NArg() != 1 {
		return usageErr("run takes one scenario FILE, got %d arguments", c.NArg())
	}
	var seed uint64
	if s := c.String("seed"); s != "" {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			return usageErr("-seed %q: want an unsigned integer", s)
		}
		seed = v
	}
	file, report := c.Args().First(), c.String("report")
	sc, err := sim.Load(file)
	if err != nil {
		if errors.Is(err, sim.ErrInvalidScenario) {
			return usageErr("%v", err)
		}
		return &exitError{code: exitHarness, err: err}
	}
	stderr := &lineWriter{w: c.App.ErrWriter}
	prog := &sim.Progress{}
	stopProgress, err := startProgress(c.String("progress"), c.App.ErrWriter, stderr, prog)
	if err != nil {
		return err
	}
	defer stopProgress() // on every return; summary stops it earlier
	cfg := sim.DefaultAgentConfig()
	opts := sim.Options{
		Seed: seed, ReportDir: report, Log: stderr, Progress: prog,
		Factory: sim.NewAgentFactory(cfg), ScenarioBounds: sim.AgentScenarioBounds(cfg),
	}
	if p := c.String("cpuprofile"); p != "" {
		f, err := os.Create(p)
		if err != nil {
			return usageErr("-cpuprofile: %v", err)
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return usageErr("-cpuprofile: %v", err)
		}
		defer pprof.StopCPUProfile()
	}
	wall := realNow()
	printed := false
	summary := func(rep sim.Report) error {
		stopProgress()
		if printed {
			return nil
		}
		printed = true
		if err := rep.WriteText(c.App.Writer); err != nil {
			return err
		}
		fmt.Fprintf(stderr, "wall time %v\n", realNow().Sub(wall).Round(10*time.Millisecond))
		if report != "" {
			fmt.Fprintf(stderr, "report: %s/index.html\n", report)
		}
		return nil
	}
	// Interrupted: print and exit once the partial report is written, without
	// waiting for every simulated agent to stop (minutes with a thousand).
	opts.Stopped = func(rep sim.Report, err error) {
		_ = summary(rep)
		fmt.Fprintf(c.App.ErrWriter, "grapevine-sim: scenario %s: interrupted; the report is partial\n", sc.Name)
		pprof.StopCPUProfile() // exitNow skips the deferred one; a no-op without -cpuprofile
		exitNow(exitInterrupted)
	}
	var rep sim.Report
	if c.Bool("realtime") {
		rep, err = sim.Run(c.Context, sc, opts)
	} else {
		rep, err = sim.RunVirtual(c.Context, sc, opts)
	}
	interrupted := errors.Is(err, context.Canceled) && c.Context.Err() != nil
	if err != nil && !interrupted && rep.Scenario == "" {
		return &exitError{code: exitHarness, err: err}
	}
	if werr := summary(rep); werr != nil {
		return &exitError{code: exitHarness, err: werr}
	}
	switch {
	case interrupted:
		return &exitError{code: exitInterrupted, err: fmt.Errorf("scenario %s: interrupted; the report is partial", sc.Name)}
	case err != nil:
		return &exitError{code: exitHarness, err: err}
	case !rep.Passed():
		return &exitError{code: exitFailed, err: fmt.Errorf("scenario %s: invariants failed", sc.Name)}
	}
	return nil
}

// realNow is the wall clock, also inside the simulation's bubble, where
// time.Now is virtual (the interruption summary is printed from there).
func realNow() time.Time {
	var tv syscall.Timeval
	if err := syscall.Gettimeofday(&tv); err != nil {
		return time.Now()
	}
	return time.Unix(tv.Unix())
}
