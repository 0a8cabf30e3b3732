package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/grapevine-sd/grapevine/agent"
	"github.com/grapevine-sd/grapevine/internal/sdnotify"
	"github.com/rs/zerolog"
	"github.com/urfave/cli/v2"
)

func init() {
	commands = append(commands, agentCommand, keygenCommand)
}

func agentCommand() *cli.Command {
	return &cli.Command{
		Name:  "agent",
		Usage: "run the agent daemon",
		Description: "Runs a Grapevine agent: joins the cluster, serves the HTTP API and DNS, health-checks\n" +
			"this host's services. Flags override the config file. SIGINT/SIGTERM leave the cluster\n" +
			"and exit 0; SIGHUP reloads the service definitions of -config-dir, the acl section of\n" +
			"-config (tokens) and the token and TLS files.",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "config", Usage: "YAML config `FILE` (docs/config.md)"},
			&cli.StringFlag{Name: "node", Usage: "node `NAME` (default: hostname)"},
			&cli.StringFlag{Name: "bind", Usage: "gossip `HOST:PORT` (default 0.0.0.0:7946)"},
			&cli.StringFlag{Name: "advertise", Usage: "gossip `HOST:PORT` peers dial"},
			&cli.StringFlag{Name: "http", Usage: "HTTP API `HOST:PORT` (default 127.0.0.1:7947, \"\" disables)"},
			&cli.StringFlag{Name: "dns", Usage: "DNS `HOST:PORT` (default 127.0.0.1:7948, \"\" disables)"},
			&cli.StringFlag{Name: "consul-http", Usage: "Consul-compatible HTTP API `HOST:PORT`, e.g. 127.0.0.1:8500 (default off; docs/consul.md)"},
			&cli.StringSliceFlag{Name: "join", Usage: "seed agent `HOST:PORT` (repeatable; retried)"},
			&cli.StringFlag{Name: "data-dir", Usage: "`DIR` for the epoch and API registrations"},
			&cli.StringFlag{Name: "config-dir", Usage: "`DIR` of service definition files"},
			&cli.StringFlag{Name: "zone", Usage: "zone `NAME` of this host"},
			&cli.StringFlag{Name: "encrypt-file", Usage: "gossip keyring `FILE`: base64 keys one per line, first = primary (grapevine keygen > FILE)"},
			&cli.StringFlag{Name: "encrypt", Usage: "base64 gossip `KEY` inline (visible in ps: prefer -encrypt-file)"},
			&cli.BoolFlag{Name: "insecure-gossip", Usage: "run without a gossip key: unauthenticated gossip (labs and tests only)"},
			&cli.StringFlag{Name: "gossip-label", Usage: "gossip `LABEL` required on every packet (keeps clusters apart; not a secret)"},
			&cli.StringFlag{Name: "log-level", Usage: "debug, info, warn or error"},
			&cli.BoolFlag{Name: "log-json", Usage: "log JSON lines"},
			&cli.BoolFlag{Name: "dev", Usage: "single-node dev agent: temporary data dir, a demo service"},
			&cli.BoolFlag{Name: "insecure-http", Usage: "let the HTTP API listen beyond loopback with neither acl nor tls (docs/http.md)"},
		},
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return usageErr("agent takes no arguments, got %q", c.Args().First())
			}
			cfg, err := agentConfig(c)
			if err != nil {
				return err
			}
			return runAgent(c.Context, cfg, c.App.ErrWriter)
		},
	}
}

// agentConfig builds the Config: defaults, then the file, then flags.
func agentConfig(c *cli.Context) (agent.Config, error) {
	cfg := agent.DefaultConfig()
	if f := c.String("config"); f != "" {
		if err := cfg.LoadFile(f); err != nil {
			return cfg, usageErr("%v", err)
		}
	}
	str := func(name string, dst *string) {
		if c.IsSet(name) {
			*dst = c.String(name)
		}
	}
	str("node", &cfg.Node)
	str("bind", &cfg.Bind)
	str("advertise", &cfg.Advertise)
	str("http", &cfg.HTTP)
	str("dns", &cfg.DNS.Addr)
	str("consul-http", &cfg.Consul.HTTP)
	str("data-dir", &cfg.DataDir)
	str("config-dir", &cfg.ConfigDir)
	str("zone", &cfg.Zone)
	if c.IsSet("encrypt-file") { // a flag's key replaces the file's keys
		cfg.Encrypt, cfg.EncryptKeys = "", nil
	}
	if c.IsSet("encrypt") {
		cfg.EncryptFile, cfg.EncryptKeys = "", nil
	}
	str("encrypt", &cfg.Encrypt)
	str("encrypt-file", &cfg.EncryptFile)
	str("gossip-label", &cfg.Gossip.Label)
	if c.IsSet("insecure-gossip") {
		cfg.InsecureGossip = c.Bool("insecure-gossip")
	}
	str("log-level", &cfg.LogLevel)
	if c.IsSet("join") {
		cfg.Join = c.StringSlice("join")
	}
	if c.IsSet("log-json") {
		cfg.LogJSON = c.Bool("log-json")
	}
	if c.IsSet("insecure-http") {
		cfg.InsecureHTTP = c.Bool("insecure-http")
	}
	cfg.Dev = c.Bool("dev")
	if cfg.Dev {
		if !c.IsSet("node") && cfg.Node == "" {
			cfg.Node = "dev"
		}
		if !c.IsSet("bind") {
			cfg.Bind = "127.0.0.1:7946"
		}
		if !c.IsSet("log-level") {
			cfg.LogLevel = "info"
		}
	}
	if err := cfg.Validate(); err != nil {
		return cfg, usageErr("%v", err)
	}
	cfg.Logger = newLogger(c.App.ErrWriter, cfg.LogLevel, cfg.LogJSON)
	return cfg, nil
}

func newLogger(w io.Writer, level string, json bool) zerolog.Logger {
	lvl, err := zerolog.ParseLevel(level)
	if err != nil {
		lvl = zerolog.InfoLevel
	}
	if !json {
		w = zerolog.ConsoleWriter{Out: w, TimeFormat: time.TimeOnly, NoColor: !colorTerminal(w)}
	}
	return zerolog.New(w).Level(lvl).With().Timestamp().Logger()
}

// colorTerminal reports whether w is a terminal that should get colours: not
// a file or pipe (journald, log files), and NO_COLOR (no-color.org) unset.
func colorTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok || os.Getenv("NO_COLOR") != "" {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// runAgent runs until SIGINT/SIGTERM (or ctx ends): then it leaves the cluster,
// closes, and returns nil (exit 0). SIGHUP reloads (Agent.Reload). Under
// systemd (Type=notify, $NOTIFY_SOCKET set) it reports READY=1 once listening,
// RELOADING=1 and READY=1 around a reload, and STOPPING=1 when it leaves.
func runAgent(ctx context.Context, cfg agent.Config, stderr io.Writer) error {
	a, err := agent.New(cfg)
	if err != nil {
		return &exitError{code: exitFailure, err: err}
	}
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	defer signal.Stop(sigs)
	if err := a.Start(ctx); err != nil {
		a.Close()
		return &exitError{code: exitFailure, err: err}
	}
	notify(cfg, sdnotify.Ready)
	if cfg.Dev {
		fmt.Fprint(stderr, devBanner(cfg.Node, binaryName(os.Args[0]), a.HTTPAddr(), a.DNSAddr()))
	}
	for {
		select {
		case <-ctx.Done():
			return shutdown(a, cfg)
		case <-a.ShutdownRequested():
			cfg.Logger.Info().Msg("shutting down: asked through the Consul-compatible API (agent/leave)")
			return shutdown(a, cfg)
		case s := <-sigs:
			if s == syscall.SIGHUP {
				notify(cfg, sdnotify.Reloading)
				if err := a.Reload(); err != nil {
					cfg.Logger.Error().Err(err).Msg("reload: what failed is named; everything else was applied")
				}
				notify(cfg, sdnotify.Ready)
				continue
			}
			cfg.Logger.Info().Str("signal", s.String()).Msg("leaving the cluster")
			return shutdown(a, cfg)
		}
	}
}

// notify tells systemd the agent's state; a failure is logged, never fatal.
func notify(cfg agent.Config, state string) {
	if _, err := sdnotify.Notify(state); err != nil {
		cfg.Logger.Warn().Err(err).Str("state", state).Msg("systemd notification failed")
	}
}

func shutdown(a *agent.Agent, cfg agent.Config) error {
	notify(cfg, sdnotify.Stopping)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := a.Leave(ctx); err != nil {
		cfg.Logger.Warn().Err(err).Msg("leave")
	}
	if err := a.Close(); err != nil {
		cfg.Logger.Warn().Err(err).Msg("close")
	}
	cfg.Logger.Info().Msg("agent stopped")
	return nil
}

func keygenCommand() *cli.Command {
	return &cli.Command{
		Name:  "keygen",
		Usage: "print a new random 32-byte gossip encryption key (base64)",
		Action: func(c *cli.Context) error {
			k := make([]byte, 32)
			if _, err := rand.Read(k); err != nil {
				return &exitError{code: exitFailure, err: err}
			}
			fmt.Fprintln(c.App.Writer, base64.StdEncoding.EncodeToString(k))
			return nil
		},
	}
}

// devBanner tells the user of a dev agent how to reach it: commands to paste,
// with this binary's path and the -http address when it is not the default.
func devBanner(node, bin, httpAddr, dnsAddr string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "\n  dev agent %q is up: HTTP %s, DNS %s\n", node, orOff(httpAddr), orOff(dnsAddr))
	if httpAddr != "" {
		lookup := bin + " lookup demo"
		if httpAddr != agent.DefaultConfig().HTTP {
			lookup = bin + " lookup -http " + httpAddr + " demo"
		}
		fmt.Fprintf(&b, "  try: %s\n       curl -s http://%s/v1/services/demo\n", lookup, httpAddr)
	}
	if host, port, err := net.SplitHostPort(dnsAddr); err == nil {
		fmt.Fprintf(&b, "       dig @%s -p %s demo.service.grapevine.\n", host, port)
	}
	if httpAddr != "" {
		fmt.Fprintf(&b, "  status page: http://%s/ui\n", httpAddr)
	}
	return b.String() + "\n"
}

func orOff(addr string) string {
	if addr == "" {
		return "off"
	}
	return addr
}

// binaryName is how the user ran this binary, for commands to paste: the path
// they typed (bin/grapevine), or "grapevine" for a go run build.
func binaryName(arg0 string) string {
	if arg0 == "" || strings.Contains(arg0, "go-build") {
		return "grapevine"
	}
	return arg0
}
