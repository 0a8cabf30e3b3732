package main

import (
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"os"
	"slices"
	"text/tabwriter"

	"github.com/grapevine-sd/grapevine/agent"
	"github.com/grapevine-sd/grapevine/api"
	"github.com/urfave/cli/v2"
)

func init() {
	commands = append(commands, keyringCommand)
}

func keyringCommand() *cli.Command {
	keyFlag := func() cli.Flag {
		return &cli.StringFlag{Name: "file", Usage: "read the key from `FILE` (as `grapevine keygen > FILE` writes it), - for stdin; keeps it off the command line"}
	}
	change := func(name, usage, done string, call func(*api.Client, context.Context, string) ([]api.KeyringResponse, error)) *cli.Command {
		return clientCommand(&cli.Command{
			Name: name, Usage: usage, ArgsUsage: "[KEY]",
			Flags: []cli.Flag{keyFlag(), jsonFlag()},
		}, func(ctx context.Context, c *cli.Context, client *api.Client, args []string) error {
			key, err := keyArg(c, args)
			if err != nil {
				return err
			}
			res, err := call(client, ctx, key)
			if err != nil {
				return failure(err)
			}
			return printKeyring(c, res, done)
		})
	}
	return &cli.Command{
		Name:  "keyring",
		Usage: "list, install, use or remove gossip keys on every live agent",
		Description: "Changes the gossip keyring of every live agent at once, through the local agent's API\n" +
			"(/v1/operator/keyring, operator policy), and says how many agents applied it. Each agent\n" +
			"keeps its keyring in its data_dir, so restarts keep the change. Rotate a key with\n" +
			"install NEW, use NEW, remove OLD (docs/operations.md). Exit 3 unless every agent applied it.",
		Subcommands: []*cli.Command{
			clientCommand(&cli.Command{
				Name: "list", Usage: "show every agent's keys: how many hold each, how many use it to encrypt",
				Flags: []cli.Flag{jsonFlag()},
			}, func(ctx context.Context, c *cli.Context, client *api.Client, args []string) error {
				if err := wantArgs(args, 0, "no arguments"); err != nil {
					return err
				}
				res, err := client.KeyringList(ctx)
				if err != nil {
					return failure(err)
				}
				return printKeyring(c, res, "")
			}),
			change("install", "install a key on every agent (accepted for decryption; not yet used to encrypt)", "installed", (*api.Client).KeyringInstall),
			change("use", "make an installed key the primary (encrypting) key of every agent", "now primary", (*api.Client).KeyringUse),
			change("remove", "remove a key from every agent (never the primary)", "removed", (*api.Client).KeyringRemove),
		},
	}
}

// keyArg is the key of a keyring change: the one argument, or the one key
// of -file (- for stdin). It is checked here so a typo fails before any
// agent is asked.
func keyArg(c *cli.Context, args []string) (string, error) {
	file := c.String("file")
	switch {
	case file != "" && len(args) > 0:
		return "", usageErr("give the key as an argument or with -file, not both")
	case file == "":
		if err := wantArgs(args, 1, "a base64 KEY (or -file FILE)"); err != nil {
			return "", err
		}
		if _, err := agent.DecodeKey(args[0]); err != nil {
			return "", usageErr("KEY: %v", err)
		}
		return args[0], nil
	}
	var r io.Reader = c.App.Reader
	if file != "-" {
		f, err := os.Open(file)
		if err != nil {
			return "", usageErr("-file: %v", err)
		}
		defer f.Close()
		r = f
	} else if r == nil {
		r = os.Stdin
	}
	b, err := io.ReadAll(io.LimitReader(r, 64<<10+1))
	if err != nil {
		return "", usageErr("-file: %v", err)
	}
	keys, err := agent.ParseKeyring(b)
	if err != nil {
		return "", usageErr("-file %s: %v", file, err)
	}
	if len(keys) != 1 {
		return "", usageErr("-file %s holds %d keys, want one", file, len(keys))
	}
	return base64.StdEncoding.EncodeToString(keys[0]), nil
}

// printKeyring prints a keyring answer: for a change "<done> on A/N agents"
// with who refused or did not answer; for a list, each key with the agents
// holding and using it. Incomplete answers exit 3.
func printKeyring(c *cli.Context, res []api.KeyringResponse, done string) error {
	w := c.App.Writer
	if c.Bool("json") {
		if err := printJSON(w, res); err != nil {
			return err
		}
	}
	complete := true
	for _, r := range res {
		complete = complete && r.Complete()
		if c.Bool("json") {
			continue
		}
		if done != "" {
			fmt.Fprintf(w, "%s on %d/%d agents\n", done, r.Applied(), r.NumNodes)
		} else {
			tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
			fmt.Fprintln(tw, "KEY\tAGENTS\tPRIMARY ON")
			keys := make([]string, 0, len(r.Keys))
			for k := range r.Keys {
				keys = append(keys, k)
			}
			slices.Sort(keys)
			for _, k := range keys {
				fmt.Fprintf(tw, "%s\t%d/%d\t%d\n", k, r.Keys[k], r.NumNodes, r.PrimaryKeys[k])
			}
			tw.Flush()
		}
		names := make([]string, 0, len(r.Messages))
		for n := range r.Messages {
			names = append(names, n)
		}
		slices.Sort(names)
		for _, n := range names {
			fmt.Fprintf(w, "  %s refused: %s\n", n, r.Messages[n])
		}
		for _, n := range r.Missing {
			fmt.Fprintf(w, "  %s did not answer\n", n)
		}
	}
	if !complete {
		return &exitError{code: exitFailure, err: fmt.Errorf("not every agent applied it")}
	}
	return nil
}
