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
			Name:      "deregister",
			Usage:     "remove a service instance registered on the agent's host",
			ArgsUsage: "ID",
		}, deregisterAction)
	})
}

func deregisterAction(ctx context.Context, c *cli.Context, client *api.Client, args []string) error {
	if err := wantArgs(args, 1, "one instance ID"); err != nil {
		return err
	}
	if err := client.Deregister(ctx, args[0]); err != nil {
		return failure(err)
	}
	_, err := fmt.Fprintf(c.App.Writer, "deregistered %s\n", args[0])
	return err
}
