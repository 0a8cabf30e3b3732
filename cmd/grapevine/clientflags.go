package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/grapevine-sd/grapevine/api"
	"github.com/urfave/cli/v2"
)

// This file holds what the client commands (lookup, services, members,
// register, deregister, maint, watch) share: the -http and -json flags, the
// api.Client, flags after positional arguments, and the mapping of errors to
// exit codes.

// httpFlag is the agent address of every client command.
func httpFlag() cli.Flag {
	return &cli.StringFlag{
		Name:    "http",
		Usage:   "agent HTTP API address, host:port or http(s)://host:port",
		EnvVars: []string{api.AddressEnv},
		Value:   api.DefaultAddress,
	}
}

// securityFlags are the token and TLS flags of every client command.
func securityFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "token", Usage: "ACL `TOKEN` sent to the agent", EnvVars: []string{api.TokenEnv}},
		&cli.StringFlag{Name: "token-file", Usage: "`FILE` holding the ACL token", EnvVars: []string{api.TokenFileEnv}},
		&cli.StringFlag{Name: "ca-file", Usage: "PEM `FILE` of CAs that verify the agent's certificate (https)", EnvVars: []string{api.CACertEnv}},
		&cli.StringFlag{Name: "client-cert", Usage: "PEM certificate `FILE` for agents that verify clients", EnvVars: []string{api.ClientCertEnv}},
		&cli.StringFlag{Name: "client-key", Usage: "PEM key `FILE` of -client-cert", EnvVars: []string{api.ClientKeyEnv}},
	}
}

// clientConfig is the api.ClientConfig of c's -http and security flags.
func clientConfig(c *cli.Context) (api.ClientConfig, error) {
	cfg := api.ClientConfig{
		Address: c.String("http"), Token: c.String("token"), TokenFile: c.String("token-file"),
		CAFile: c.String("ca-file"), ClientCert: c.String("client-cert"), ClientKey: c.String("client-key"),
	}
	if cfg.Token != "" && cfg.TokenFile != "" {
		// A flag given beats the other's environment variable.
		switch {
		case os.Getenv(api.TokenEnv) == cfg.Token:
			cfg.Token = ""
		case os.Getenv(api.TokenFileEnv) == cfg.TokenFile:
			cfg.TokenFile = ""
		default:
			return cfg, usageErr("-token and -token-file exclude each other")
		}
	}
	return cfg, nil
}

func jsonFlag() cli.Flag {
	return &cli.BoolFlag{Name: "json", Usage: "print JSON for machines instead of a table"}
}

// clientAction is a command body: c's flags are parsed (also those given after
// positional arguments), args are the positional arguments.
type clientAction func(ctx context.Context, c *cli.Context, client *api.Client, args []string) error

// clientCommand completes cmd with the -http flag and an action that parses
// interspersed flags and builds the client.
func clientCommand(cmd *cli.Command, action clientAction) *cli.Command {
	cmd.Flags = append(append(cmd.Flags, httpFlag()), securityFlags()...)
	cmd.Action = func(c *cli.Context) error {
		args, err := positionalArgs(c)
		if err != nil {
			if errors.Is(err, errHelpShown) {
				return nil
			}
			return err
		}
		cfg, err := clientConfig(c)
		if err != nil {
			return err
		}
		client, err := api.NewClient(cfg)
		if err != nil {
			return usageErr("%v", err)
		}
		return action(c.Context, c, client, args)
	}
	return cmd
}

var errHelpShown = errors.New("help shown")

// positionalArgs returns c's positional arguments after applying the flags
// that follow them: urfave/cli v2 stops parsing flags at the first positional
// argument, but "grapevine lookup web -tag v2" should work like "grapevine
// lookup -tag v2 web". "--" ends flag parsing.
func positionalArgs(c *cli.Context) ([]string, error) {
	args := c.Args().Slice()
	var pos []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			pos = append(pos, args[i+1:]...)
			break
		}
		if len(a) < 2 || a[0] != '-' {
			pos = append(pos, a)
			continue
		}
		name, val, hasVal := strings.Cut(strings.TrimPrefix(a[1:], "-"), "=")
		if name == "h" || name == "help" {
			_ = cli.ShowCommandHelp(c, c.Command.Name)
			return nil, errHelpShown
		}
		f := lookupFlag(c.Command.Flags, name)
		if f == nil {
			return nil, usageErr("flag provided but not defined: -%s", name)
		}
		if !hasVal {
			if _, isBool := f.(*cli.BoolFlag); isBool {
				val = "true"
			} else {
				if i+1 >= len(args) {
					return nil, usageErr("flag needs an argument: -%s", name)
				}
				i++
				val = args[i]
			}
		}
		if err := c.Set(name, val); err != nil {
			return nil, usageErr("invalid value %q for flag -%s: %v", val, name, err)
		}
	}
	return pos, nil
}

func lookupFlag(flags []cli.Flag, name string) cli.Flag {
	for _, f := range flags {
		for _, n := range f.Names() {
			if n == name {
				return f
			}
		}
	}
	return nil
}

// wantArgs checks the number of positional arguments, none of them empty
// (an empty NAME from an unset shell variable must not watch or look up
// everything).
func wantArgs(args []string, n int, usage string) error {
	if len(args) != n {
		return usageErr("want %s, got %d argument(s)", usage, len(args))
	}
	for i, a := range args {
		if a == "" {
			return usageErr("want %s, argument %d is empty", usage, i+1)
		}
	}
	return nil
}

// failure marks an error of the agent or of the connection to it (exit 3).
func failure(err error) error {
	var se *api.StatusError
	if errors.As(err, &se) {
		return &exitError{code: exitFailure, err: fmt.Errorf("agent refused the request: %s (%d)", se.Message, se.Code)}
	}
	return &exitError{code: exitFailure, err: fmt.Errorf("agent unreachable: %w", err)}
}

// printJSON writes v indented, one document per call.
func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// parseMeta turns "k:v" flag values into a map.
func parseMeta(vals []string) (map[string]string, error) {
	if len(vals) == 0 {
		return nil, nil
	}
	m := make(map[string]string, len(vals))
	for _, kv := range vals {
		k, v, ok := strings.Cut(kv, ":")
		if !ok || k == "" {
			return nil, usageErr("-meta %q: want key:value", kv)
		}
		m[k] = v
	}
	return m, nil
}

// orDash shows empty cells as "-".
func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
