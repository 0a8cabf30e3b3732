package main

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/grapevine-sd/grapevine/api"
	"github.com/urfave/cli/v2"
)

func init() {
	commands = append(commands, func() *cli.Command {
		return clientCommand(&cli.Command{
			Name:  "services",
			Usage: "list every service with its instance counts by health",
			Flags: []cli.Flag{jsonFlag()},
		}, servicesAction)
	})
}

func servicesAction(ctx context.Context, c *cli.Context, client *api.Client, args []string) error {
	if err := wantArgs(args, 0, "no arguments"); err != nil {
		return err
	}
	svcs, err := client.Services(ctx)
	if err != nil {
		return failure(err)
	}
	w := c.App.Writer
	if c.Bool("json") {
		if svcs == nil {
			svcs = []api.ServiceSummary{}
		}
		return printJSON(w, svcs)
	}
	slices.SortFunc(svcs, func(a, b api.ServiceSummary) int { return strings.Compare(a.Name, b.Name) })
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tINSTANCES\tPASSING\tWARNING\tCRITICAL\tMAINT\tSTALE")
	for _, s := range svcs {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%d\t%d\n", s.Name, s.Instances, s.Passing, s.Warning, s.Critical, s.Maintenance, s.Stale)
	}
	return tw.Flush()
}
