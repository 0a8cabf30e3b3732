package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"syscall"

	"github.com/grapevine-sd/grapevine/sim"
	"github.com/urfave/cli/v2"
)

func init() {
	commands = append(commands, simCommand)
}

func simCommand() *cli.Command {
	return &cli.Command{
		Name:  "sim",
		Usage: "run network simulations of many agents in one process",
		Subcommands: []*cli.Command{{
			Name:      "run",
			Usage:     "run a scenario file and check the guarantees",
			ArgsUsage: "FILE",
			Description: "Runs the scenario (docs/sim.md) with real agents over a simulated network, in real\n" +
				"time. Prints the step log to stderr and the summary to stdout; exit 0 if every\n" +
				"invariant held, 1 if one failed, 2 on usage errors, 3 if the harness failed.\n" +
				"Flags may also follow FILE.",
			Flags: []cli.Flag{
				&cli.Uint64Flag{Name: "seed", Usage: "override the scenario's seed `S`"},
				&cli.StringFlag{Name: "report", Usage: "write the HTML report with plots to `DIR`/index.html"},
			},
			Action: simRun,
		}},
	}
}

// simArgs takes FILE and the flags that may follow it (urfave/cli stops
// parsing flags at the first argument).
func simArgs(c *cli.Context) (file string, seed uint64, report string, err error) {
	seed, report = c.Uint64("seed"), c.String("report")
	args := c.Args().Slice()
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch a {
		case "-seed", "--seed", "-report", "--report":
			if i+1 >= len(args) {
				return "", 0, "", usageErr("%s needs a value", a)
			}
			v := args[i+1]
			i++
			if a == "-seed" || a == "--seed" {
				s, perr := strconv.ParseUint(v, 10, 64)
				if perr != nil {
					return "", 0, "", usageErr("-seed %q: want an unsigned integer", v)
				}
				seed = s
			} else {
				report = v
			}
		default:
			if file != "" {
				return "", 0, "", usageErr("sim run takes one FILE, got %q and %q", file, a)
			}
			file = a
		}
	}
	if file == "" {
		return "", 0, "", usageErr("sim run needs a scenario FILE")
	}
	return file, seed, report, nil
}

func simRun(c *cli.Context) error {
	file, seed, report, err := simArgs(c)
	if err != nil {
		return err
	}
	sc, err := sim.Load(file)
	if err != nil {
		if errors.Is(err, sim.ErrInvalidScenario) {
			return usageErr("%v", err)
		}
		return &exitError{code: exitFailure, err: err}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	cfg := sim.DefaultAgentConfig()
	rep, err := sim.Run(ctx, sc, sim.Options{
		Seed: seed, ReportDir: report, Log: c.App.ErrWriter,
		Factory: sim.NewAgentFactory(cfg), Bounds: sim.AgentBounds(cfg),
	})
	if err != nil {
		return &exitError{code: exitFailure, err: err}
	}
	if err := rep.WriteText(c.App.Writer); err != nil {
		return &exitError{code: exitFailure, err: err}
	}
	if report != "" {
		fmt.Fprintf(c.App.ErrWriter, "report: %s/index.html\n", report)
	}
	if !rep.Passed() {
		return &exitError{code: exitNoResult, err: fmt.Errorf("scenario %s: invariants failed", sc.Name)}
	}
	return nil
}
