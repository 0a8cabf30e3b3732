package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/grapevine-sd/grapevine/api"
	"github.com/urfave/cli/v2"
)

func init() {
	commands = append(commands, func() *cli.Command {
		return clientCommand(&cli.Command{
			Name:      "lookup",
			Usage:     "list the instances of a service (exit 1 when none match)",
			ArgsUsage: "NAME",
			Flags: []cli.Flag{
				&cli.StringSliceFlag{Name: "tag", Usage: "only instances with this tag (repeatable: all must match)"},
				&cli.StringSliceFlag{Name: "meta", Usage: "only instances with meta key:value (repeatable: all must match)"},
				&cli.StringFlag{Name: "zone", Usage: "only instances in this zone"},
				&cli.StringFlag{Name: "health", Usage: "passing, warning, critical, maintenance or any (default: passing and warning)"},
				jsonFlag(),
			},
		}, lookupAction)
	})
}

func lookupAction(ctx context.Context, c *cli.Context, client *api.Client, args []string) error {
	if err := wantArgs(args, 1, "one service NAME"); err != nil {
		return err
	}
	health, err := api.ParseHealthFilter(c.String("health"))
	if err != nil {
		return usageErr("-health: %v", err)
	}
	meta, err := parseMeta(c.StringSlice("meta"))
	if err != nil {
		return err
	}
	opts := api.QueryOptions{Tags: c.StringSlice("tag"), Meta: meta, Zone: c.String("zone"), Health: health}
	insts, _, err := client.Service(ctx, args[0], opts)
	if err != nil {
		return failure(err)
	}
	w := c.App.Writer
	if c.Bool("json") {
		if err := printJSON(w, insts); err != nil {
			return err
		}
	} else if len(insts) > 0 {
		if err := printInstances(w, insts); err != nil {
			return err
		}
	}
	if len(insts) == 0 {
		what := string(health)
		if health == "" {
			what = "healthy"
		}
		return &exitError{code: exitNoResult, err: fmt.Errorf("no %s instances of %q match", what, args[0])}
	}
	return nil
}

// printInstances writes a table sorted by node and id. The STALE column
// appears only when some instance is stale.
func printInstances(w io.Writer, insts []api.Instance) error {
	sorted := slices.Clone(insts)
	sortInstances(sorted)
	anyStale := slices.ContainsFunc(sorted, func(i api.Instance) bool { return i.Stale })
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	header := "ID\tNODE\tADDRESS:PORT\tHEALTH\tZONE\tTAGS"
	if anyStale {
		header += "\tSTALE"
	}
	fmt.Fprintln(tw, header)
	for _, i := range sorted {
		row := strings.Join([]string{orDash(i.ID), orDash(i.Node), hostPort(i.Address, i.Port), orDash(string(i.Health)), orDash(i.Zone), orDash(strings.Join(i.Tags, ","))}, "\t")
		if anyStale {
			row += "\t" + staleCell(i)
		}
		fmt.Fprintln(tw, row)
	}
	return tw.Flush()
}

func hostPort(addr string, port int) string {
	return net.JoinHostPort(orDash(addr), strconv.Itoa(port))
}

// staleCell shows "-" for a fresh instance and its age (to the second) for a
// stale one.
func staleCell(i api.Instance) string {
	if !i.Stale {
		return "-"
	}
	return i.Age().Truncate(time.Second).String()
}
