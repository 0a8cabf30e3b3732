package main

import (
	"context"
	"fmt"

	"github.com/grapevine-sd/grapevine/api"
	"github.com/urfave/cli/v2"
)

func init() {
	commands = append(commands, func() *cli.Command {
		return clientCommand(&cli.Command{
			Name:      "maint",
			Usage:     "put a service instance of the agent's host in maintenance, or take it out",
			ArgsUsage: "ID",
			Flags: []cli.Flag{
				&cli.BoolFlag{Name: "enable", Usage: "enter maintenance (health becomes maintenance)"},
				&cli.BoolFlag{Name: "disable", Usage: "leave maintenance (health comes from the checks again)"},
				&cli.StringFlag{Name: "reason", Usage: "why, shown as the instance's output"},
			},
		}, maintAction)
	})
}

func maintAction(ctx context.Context, c *cli.Context, client *api.Client, args []string) error {
	if err := wantArgs(args, 1, "one instance ID"); err != nil {
		return err
	}
	enable, disable := c.Bool("enable"), c.Bool("disable")
	if enable == disable {
		return usageErr("give exactly one of -enable and -disable")
	}
	if err := client.Maintenance(ctx, args[0], enable, c.String("reason")); err != nil {
		return failure(err)
	}
	state := "off"
	if enable {
		state = "on"
	}
	_, err := fmt.Fprintf(c.App.Writer, "maintenance %s for %s\n", state, args[0])
	return err
}
