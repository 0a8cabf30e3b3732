package main

import (
	"context"
	"fmt"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/grapevine-sd/grapevine/api"
	"github.com/urfave/cli/v2"
)

// The cluster view's commands: checks, check, join, force-leave (docs/cli.md).
func init() {
	commands = append(commands,
		func() *cli.Command {
			return clientCommand(&cli.Command{
				Name:  "checks",
				Usage: "list the health checks of this agent's instances with their state",
				Flags: []cli.Flag{jsonFlag()},
			}, checksAction)
		},
		func() *cli.Command {
			return &cli.Command{
				Name:  "check",
				Usage: "report the state of a TTL check of this agent",
				Subcommands: []*cli.Command{
					ttlCommand("pass", api.HealthPassing),
					ttlCommand("warn", api.HealthWarning),
					ttlCommand("fail", api.HealthCritical),
				},
			}
		},
		func() *cli.Command {
			return clientCommand(&cli.Command{
				Name:      "join",
				Usage:     "make the agent join the cluster of the given gossip addresses (needs an operator token when ACLs are on)",
				ArgsUsage: "ADDR...",
			}, joinAction)
		},
		func() *cli.Command {
			return clientCommand(&cli.Command{
				Name:      "force-leave",
				Usage:     "mark a failed member as left on every agent, withdrawing its records at once (needs an operator token when ACLs are on)",
				ArgsUsage: "NODE",
			}, forceLeaveAction)
		},
	)
}

func checksAction(ctx context.Context, c *cli.Context, client *api.Client, args []string) error {
	if err := wantArgs(args, 0, "no arguments"); err != nil {
		return err
	}
	cs, err := client.Checks(ctx)
	if err != nil {
		return failure(err)
	}
	w := c.App.Writer
	if c.Bool("json") {
		if cs == nil {
			cs = []api.CheckState{}
		}
		return printJSON(w, cs)
	}
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tINSTANCE\tTYPE\tSTATUS\tSTREAK\tLAST RUN\tOUTPUT")
	for _, ch := range cs {
		streak := "-"
		switch {
		case ch.Successes > 0:
			streak = strconv.Itoa(ch.Successes) + " ok"
		case ch.Failures > 0:
			streak = strconv.Itoa(ch.Failures) + " failed"
		}
		last := "-"
		if !ch.LastRun.IsZero() {
			last = ch.LastRun.UTC().Format(time.RFC3339)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", ch.ID, ch.Instance, ch.Type, ch.Status, streak, last, orDash(flatten(ch.Output, 60)))
	}
	return tw.Flush()
}

// flatten is s on one line, cut to n runes.
func flatten(s string, n int) string {
	r := []rune(s)
	for i, c := range r {
		if c == '\n' || c == '\r' || c == '\t' {
			r[i] = ' '
		}
	}
	if len(r) > n {
		return string(r[:n-1]) + "…"
	}
	return string(r)
}

// ttlCommand is "check pass|warn|fail CHECK_ID [-note TEXT]".
func ttlCommand(name string, status api.Health) *cli.Command {
	return clientCommand(&cli.Command{
		Name:      name,
		Usage:     fmt.Sprintf("set the TTL check CHECK_ID %s and restart its TTL", status),
		ArgsUsage: "CHECK_ID",
		Flags:     []cli.Flag{&cli.StringFlag{Name: "note", Usage: "text shown as the check's output"}},
	}, func(ctx context.Context, c *cli.Context, client *api.Client, args []string) error {
		if err := wantArgs(args, 1, "one check ID"); err != nil {
			return err
		}
		if err := client.UpdateTTL(ctx, args[0], api.TTLUpdate{Status: status, Output: c.String("note")}); err != nil {
			return failure(err)
		}
		_, err := fmt.Fprintf(c.App.Writer, "check %s: %s\n", args[0], status)
		return err
	})
}

func joinAction(ctx context.Context, c *cli.Context, client *api.Client, args []string) error {
	if len(args) == 0 {
		return usageErr("give at least one gossip address (host:port)")
	}
	res, err := client.Join(ctx, args)
	if err != nil {
		return failure(err)
	}
	_, err = fmt.Fprintf(c.App.Writer, "joined: contacted %d of %d\n", res.Contacted, len(args))
	return err
}

func forceLeaveAction(ctx context.Context, c *cli.Context, client *api.Client, args []string) error {
	if err := wantArgs(args, 1, "one node name"); err != nil {
		return err
	}
	if err := client.ForceLeave(ctx, args[0]); err != nil {
		return failure(err)
	}
	_, err := fmt.Fprintf(c.App.Writer, "%s forced out: marked left on every agent\n", args[0])
	return err
}
