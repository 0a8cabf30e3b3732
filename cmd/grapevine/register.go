package main

import (
	"context"
	"fmt"
	"io"
	"os"

	"github.com/grapevine-sd/grapevine/api"
	"github.com/urfave/cli/v2"
)

func init() {
	commands = append(commands, func() *cli.Command {
		return clientCommand(&cli.Command{
			Name:  "register",
			Usage: "register a service instance on the agent's host (from flags or -file)",
			Flags: []cli.Flag{
				&cli.StringFlag{Name: "id", Usage: "instance id, unique on this agent (default: the name)"},
				&cli.StringFlag{Name: "name", Usage: "service name (required unless -file)"},
				&cli.StringFlag{Name: "address", Usage: "address clients connect to (default: the agent's advertise address)"},
				&cli.IntFlag{Name: "port", Usage: "port clients connect to"},
				&cli.StringSliceFlag{Name: "tag", Usage: "tag (repeatable)"},
				&cli.StringSliceFlag{Name: "meta", Usage: "metadata key:value (repeatable)"},
				&cli.StringFlag{Name: "zone", Usage: "zone (default: the agent's zone)"},
				&cli.StringFlag{Name: "file", Usage: "read the registration (JSON, as PUT /v1/agent/services) from this file, - for stdin"},
				jsonFlag(),
			},
		}, registerAction)
	})
}

// registrationFlags are the flags -file excludes.
var registrationFlags = []string{"id", "name", "address", "port", "tag", "meta", "zone"}

func registerAction(ctx context.Context, c *cli.Context, client *api.Client, args []string) error {
	if err := wantArgs(args, 0, "no arguments (use flags or -file)"); err != nil {
		return err
	}
	reg, err := registrationFrom(c)
	if err != nil {
		return err
	}
	inst, err := client.Register(ctx, reg)
	if err != nil {
		return failure(err)
	}
	if c.Bool("json") {
		return printJSON(c.App.Writer, inst)
	}
	id := inst.ID
	if id == "" {
		id = reg.ID
	}
	if inst.Node != "" {
		_, err = fmt.Fprintf(c.App.Writer, "registered %s (%s) on %s at %s\n", id, reg.Name, inst.Node, hostPort(inst.Address, inst.Port))
	} else {
		_, err = fmt.Fprintf(c.App.Writer, "registered %s (%s)\n", id, reg.Name)
	}
	return err
}

// registrationFrom builds the registration from -file or from the flags.
func registrationFrom(c *cli.Context) (api.Registration, error) {
	if path := c.String("file"); path != "" {
		for _, f := range registrationFlags {
			if c.IsSet(f) {
				return api.Registration{}, usageErr("-file excludes -%s: put it in the file", f)
			}
		}
		var r io.Reader = c.App.Reader
		if path != "-" {
			f, err := os.Open(path)
			if err != nil {
				return api.Registration{}, usageErr("-file: %v", err)
			}
			defer f.Close()
			r = f
		}
		reg, err := api.DecodeRegistration(r)
		if err != nil {
			return api.Registration{}, usageErr("-file %s: %v", path, err)
		}
		return reg, nil
	}
	if c.String("name") == "" {
		return api.Registration{}, usageErr("-name is required (or -file)")
	}
	port := c.Int("port")
	if port < 0 || port > 65535 {
		return api.Registration{}, usageErr("-port %d out of range 0..65535", port)
	}
	meta, err := parseMeta(c.StringSlice("meta"))
	if err != nil {
		return api.Registration{}, err
	}
	reg := api.Registration{
		ID:      c.String("id"),
		Name:    c.String("name"),
		Address: c.String("address"),
		Port:    port,
		Tags:    c.StringSlice("tag"),
		Meta:    meta,
		Zone:    c.String("zone"),
	}
	if reg.ID == "" {
		reg.ID = reg.Name
	}
	return reg, nil
}
