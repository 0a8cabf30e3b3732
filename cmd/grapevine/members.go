package main

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/grapevine-sd/grapevine/api"
	"github.com/urfave/cli/v2"
)

func init() {
	commands = append(commands, func() *cli.Command {
		return clientCommand(&cli.Command{
			Name:  "members",
			Usage: "list the cluster's agents as this agent sees them",
			Flags: []cli.Flag{jsonFlag()},
		}, membersAction)
	})
}

func membersAction(ctx context.Context, c *cli.Context, client *api.Client, args []string) error {
	if err := wantArgs(args, 0, "no arguments"); err != nil {
		return err
	}
	ms, err := client.Members(ctx)
	if err != nil {
		return failure(err)
	}
	w := c.App.Writer
	if c.Bool("json") {
		if ms == nil {
			ms = []api.Member{}
		}
		return printJSON(w, ms)
	}
	slices.SortFunc(ms, func(a, b api.Member) int { return strings.Compare(a.Name, b.Name) })
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tADDRESS\tSTATUS\tZONE\tRTT\tVERSION\tFINGERPRINT\tAGREES")
	for _, m := range ms {
		rtt := "-"
		if m.RTTMillis > 0 {
			rtt = strconv.FormatFloat(m.RTTMillis, 'f', -1, 64) + "ms"
		}
		fp, agrees := "-", "-"
		if f := m.Fingerprint; f != nil {
			fp = fmt.Sprintf("%s/%d/%d", f.Hash, f.Origins, f.Instances)
		}
		if m.Agrees != nil {
			agrees = map[bool]string{true: "yes", false: "NO"}[*m.Agrees]
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", m.Name, hostPort(m.Addr, m.Port), orDash(string(m.Status)), orDash(m.Zone), rtt, orDash(m.Version), fp, agrees)
	}
	return tw.Flush()
}
