package agent

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"slices"
	"strconv"
	"time"

	"github.com/grapevine-sd/grapevine/agent/dnsserver"
	"github.com/grapevine-sd/grapevine/internal/safefile"
	"github.com/hashicorp/memberlist"
	"github.com/rs/zerolog"
	"go.yaml.in/yaml/v3"
)

// ErrConfig wraps every configuration problem.
var ErrConfig = errors.New("agent: invalid config")

// Config is the agent's whole configuration. The YAML keys are the file format
// documented in docs/config.md; flags of `grapevine agent` override them.
type Config struct {
	// Node is this agent's name, unique in the cluster (default: the hostname).
	Node string `yaml:"node"`
	// Zone is a free-form locality label stamped on this node's instances.
	Zone string `yaml:"zone"`
	// Bind is the gossip address (UDP and TCP), host:port. Default 0.0.0.0:7946.
	Bind string `yaml:"bind"`
	// Advertise is the gossip address peers use to reach us, if not Bind's.
	Advertise string `yaml:"advertise"`
	// HTTP is the API listener. Default 127.0.0.1:7947; empty disables it.
	HTTP string `yaml:"http"`
	// DNS configures the DNS server (docs/dns.md); DNS.Addr is its listener
	// (UDP and TCP), default 127.0.0.1:7948, empty disables it. In a file a
	// plain string is read as the address.
	DNS dnsserver.Config `yaml:"dns"`
	// Join lists seed agents (host:port); retried until joined, and after
	// partitions (rejoin).
	Join []string `yaml:"join"`
	// DataDir keeps the epoch and API registrations across restarts. Empty keeps
	// nothing (a restarted agent starts a new epoch without its API registrations).
	DataDir string `yaml:"data_dir"`
	// ConfigDir holds service definition files (*.json, *.yaml), reloaded on SIGHUP.
	ConfigDir string `yaml:"config_dir"`
	// EncryptFile is a keyring file for gossip: base64 AES keys (16, 24 or 32
	// bytes) one per line, the first used to encrypt, all accepted (see
	// ParseKeyring). It seeds the keyring the agent keeps in data_dir. The
	// preferred way to give the key: it stays out of `ps` and shell history.
	EncryptFile string `yaml:"encrypt_file"`
	// Encrypt is a base64 gossip key given inline (scripts); exclusive with
	// EncryptFile.
	Encrypt string `yaml:"encrypt"`
	// EncryptKeys are further base64 keys accepted for decryption (not used to
	// encrypt), with Encrypt.
	EncryptKeys []string `yaml:"encrypt_keys"`
	// InsecureGossip lets the agent start without a gossip key: unauthenticated
	// gossip, warned about at every start and shown in /v1/agent/self. Without
	// it (or Dev) New refuses to start keyless (ErrNoGossipKey).
	InsecureGossip bool `yaml:"insecure_gossip"`
	// LogLevel is one of debug, info, warn, error. Default info.
	LogLevel string `yaml:"log_level"`
	// LogJSON writes JSON log lines instead of human-readable ones.
	LogJSON bool `yaml:"log_json"`
	// Dev runs a single-node agent with a temporary data directory and a demo service.
	Dev bool `yaml:"-"`

	// HTTPConfig bounds the HTTP API listener (connections, timeouts, Host
	// names); see httpconfig.go.
	HTTPConfig HTTPConfig `yaml:"http_config"`
	// ACL turns on tokens for the HTTP API (acl.go).
	ACL ACLConfig `yaml:"acl"`
	// TLS serves the HTTP API over TLS, mutual with verify_incoming (tls.go).
	TLS TLSConfig `yaml:"tls"`
	// InsecureHTTP lets the HTTP API listen on a non-loopback address with
	// neither ACL nor TLS (refused otherwise); warned about at every start.
	InsecureHTTP bool `yaml:"insecure_http"`
	// EnableAPIExecChecks accepts exec checks in registrations made over the
	// HTTP API. Default false: exec checks come only from the operator's
	// service definition files in ConfigDir.
	EnableAPIExecChecks bool `yaml:"enable_api_exec_checks"`
	// Limits bounds what registrations can make this agent hold.
	Limits LimitsConfig `yaml:"limits"`
	// CheckTargets restricts where checks registered over the API may
	// connect (default: not link-local, not cloud metadata addresses).
	CheckTargets CheckTargetsConfig `yaml:"check_targets"`
	// Consul is the Consul-compatible HTTP listener (off by default).
	Consul ConsulConfig `yaml:"consul"`

	// Gossip tunes dissemination.
	Gossip GossipConfig `yaml:"gossip"`
	// Leases tunes how long records of unreachable agents are served.
	Leases LeaseConfig `yaml:"leases"`

	// Logger receives the agent's logs (built from LogLevel/LogJSON by the CLI).
	Logger zerolog.Logger `yaml:"-"`
	// ConfigFile is the YAML file the config was read from (LoadFile sets
	// it): Reload (SIGHUP) reads its acl section again, so tokens and the
	// default policy change without a restart. Empty: Reload re-reads only
	// the tokens' secret files.
	ConfigFile string `yaml:"-"`
	// Transport replaces memberlist's network (the simulator sets it).
	Transport memberlist.Transport `yaml:"-"`
	// Now is the agent's clock (the simulator skews it). Default time.Now.
	Now func() time.Time `yaml:"-"`
}

// GossipConfig tunes dissemination; see docs/config.md for the trade-offs.
type GossipConfig struct {
	// Fanout is how many random peers get a change this agent learned from
	// piggyback or anti-entropy and did not have (its own changes go out on
	// relay trees that reach every agent: docs/protocol.md). 0 (default) is
	// automatic: ⌈ln N⌉ + 5, so under 1% of such changes miss a node and wait
	// for repair; a fixed 3 misses ~5% (e^-3).
	Fanout int `yaml:"fanout"`
	// PushPullInterval is how often digests are swapped with a random peer
	// (anti-entropy). Lower converges faster after loss; costs O(nodes) bytes.
	PushPullInterval time.Duration `yaml:"push_pull_interval"`
	// RejoinInterval is how often seeds and failed members are retried.
	RejoinInterval time.Duration `yaml:"rejoin_interval"`
	// RejoinMaxWait caps the backoff of an unreachable address: retried every
	// RejoinInterval while its outage is young, then every 1/20 of its age.
	RejoinMaxWait time.Duration `yaml:"rejoin_max_wait"`
	// SyncInterval is how often digests are exchanged with one random peer over
	// the reliable channel (cheaper and more frequent than push/pull); it bounds
	// how long a lost eager push stays unrepaired. 0 disables it (as in
	// gossip.Config): only memberlist's push/pull then repairs lost pushes.
	SyncInterval time.Duration `yaml:"sync_interval"`
	// Compression compresses gossip messages (memberlist); costs CPU.
	Compression bool `yaml:"compression"`
	// Label is prepended to every gossip packet and stream and required on
	// inbound ones (memberlist's Label): keeps clusters sharing a network
	// apart. Not a secret. ≤ 255 bytes; all agents of a cluster need the same.
	Label string `yaml:"label"`
	// AllowedCIDRs restricts the source networks gossip accepts packets and
	// streams from (e.g. ["10.0.0.0/8"]); empty accepts any.
	AllowedCIDRs []string `yaml:"allowed_cidrs"`
	// Limits bound what one peer can make this agent do (docs/security.md).
	Limits GossipLimits `yaml:"limits"`
	// Tune adjusts memberlist's timers (the simulator and tests); not in files.
	Tune func(*memberlist.Config) `yaml:"-"`
}

// LeaseConfig tunes record lifetimes of unreachable origins.
type LeaseConfig struct {
	// Grace is how long records of a failed agent are served as stale.
	Grace time.Duration `yaml:"grace"`
	// StaleMaxAge bounds stale-over-empty: expired records of a failed agent are
	// still served, flagged stale, when a lookup would otherwise be empty, for
	// this long after the failure. 0 disables the fallback.
	StaleMaxAge time.Duration `yaml:"stale_max_age"`
	// ReapAfter is how long records of a failed or departed agent are kept so a
	// healed partition re-merges with small deltas, then dropped.
	ReapAfter time.Duration `yaml:"reap_after"`
	// TombstoneHorizon is how long deletions are remembered; a peer away longer
	// gets a snapshot instead of deltas.
	TombstoneHorizon time.Duration `yaml:"tombstone_horizon"`
	// MassFailureFraction: if at least this share of known agents becomes
	// unreachable at once, records are preserved (self-preservation).
	MassFailureFraction float64 `yaml:"mass_failure_fraction"`
	// PreservationMax caps how long self-preservation holds records.
	PreservationMax time.Duration `yaml:"preservation_max"`
	// UnknownGrace, MaxEpochAhead, MaxRecordsPerOrigin, MaxValueBytes and
	// FloorMemory bound what peers can make this agent hold (catalog.Config).
	UnknownGrace        time.Duration `yaml:"unknown_grace"`
	MaxEpochAhead       time.Duration `yaml:"max_epoch_ahead"`
	MaxRecordsPerOrigin int           `yaml:"max_records_per_origin"`
	MaxValueBytes       int           `yaml:"max_value_bytes"`
	FloorMemory         time.Duration `yaml:"floor_memory"`
}

// Default ports (docs/design.md).
const (
	DefaultGossipPort = 7946
	DefaultHTTPAddr   = "127.0.0.1:7947"
	DefaultDNSAddr    = dnsserver.DefaultAddr
)

// DefaultConfig returns the defaults, each chosen for a LAN of up to a few
// hundred agents.
func DefaultConfig() Config {
	host, _ := os.Hostname()
	return Config{
		Node:       host,
		Bind:       net.JoinHostPort("0.0.0.0", strconv.Itoa(DefaultGossipPort)),
		HTTP:       DefaultHTTPAddr,
		DNS:        dnsserver.DefaultConfig(),
		LogLevel:   "info",
		HTTPConfig: defaultHTTPConfig(),
		Limits:     defaultLimits(),
		CheckTargets: CheckTargetsConfig{
			Deny: slices.Clone(DefaultCheckTargetsDeny),
		},
		Gossip: GossipConfig{
			Fanout:           0,                // automatic, grows with ln N
			PushPullInterval: 10 * time.Second, // memberlist's LAN 30 s is too slow to repair loss
			SyncInterval:     2 * time.Second,  // a lost push is repaired within seconds
			RejoinInterval:   5 * time.Second,  // partitions longer than ~1 min never re-merge without it
			RejoinMaxWait:    2 * time.Minute,  // a host dead for hours costs one dial per 2 min
			Compression:      false,            // CPU, not bandwidth, is scarce on a LAN (docs/hazards.md)
			Limits:           defaultGossipLimits(),
		},
		Leases: LeaseConfig{
			Grace:               10 * time.Second, // after SWIM's ~8–15 s detection: rides out a flap
			StaleMaxAge:         20 * time.Minute, // beyond PreservationMax: a long partition still answers
			ReapAfter:           30 * time.Minute, // healed partitions re-merge with deltas
			TombstoneHorizon:    time.Hour,        // deletions outlive any partition we heal by deltas
			MassFailureFraction: 0.3,              // 30% unreachable at once is a partition, not crashes
			PreservationMax:     15 * time.Minute,
			UnknownGrace:        10 * time.Second, // a join's news outruns its deltas by about a second
			MaxEpochAhead:       24 * time.Hour,   // agents' clocks agree within a day
			MaxRecordsPerOrigin: 4096,
			MaxValueBytes:       16 << 10,
			FloorMemory:         24 * time.Hour,
		},
		Now: time.Now,
	}
}

// Validate checks every field and returns the first problem, wrapped in ErrConfig.
func (c *Config) Validate() error {
	bad := func(format string, a ...any) error {
		return fmt.Errorf("%w: %s", ErrConfig, fmt.Sprintf(format, a...))
	}
	switch {
	case c.Node == "" || len(c.Node) > 128:
		return bad("node name must be 1..128 bytes, got %q", c.Node)
	case !printable(c.Node):
		return bad("node name %q has unprintable or space characters", c.Node)
	case len(c.Zone) > 64:
		return bad("zone longer than 64 bytes")
	}
	if _, _, err := splitHostPort(c.Bind, false); err != nil {
		return bad("bind: %v", err)
	}
	if c.Advertise != "" {
		if _, _, err := splitHostPort(c.Advertise, false); err != nil {
			return bad("advertise: %v", err)
		}
	}
	if c.DNS.Addr != "" {
		if err := c.DNS.Validate(); err != nil {
			return fmt.Errorf("%w: dns: %w", ErrConfig, err)
		}
	}
	for name, addr := range map[string]string{"http": c.HTTP} {
		if addr == "" {
			continue
		}
		if _, _, err := splitHostPort(addr, false); err != nil {
			return bad("%s: %v", name, err)
		}
	}
	if err := c.validateConsul(); err != nil {
		return bad("%v", err)
	}
	for _, j := range c.Join {
		if _, _, err := splitHostPort(j, true); err != nil {
			return bad("join %q: %v", j, err)
		}
	}
	if _, err := c.Keys(); err != nil {
		return bad("%v", err)
	}
	if c.EncryptFile != "" && (c.Encrypt != "" || len(c.EncryptKeys) > 0) {
		return bad("encrypt_file and encrypt/encrypt_keys are exclusive: put every key in the file, primary first")
	}
	if len(c.Gossip.Label) > 255 {
		return bad("gossip.label is %d bytes, max 255", len(c.Gossip.Label))
	}
	if _, err := c.Gossip.cidrs(); err != nil {
		return bad("%v", err)
	}
	if err := c.Gossip.Limits.validate(); err != nil {
		return bad("%v", err)
	}
	if _, err := c.CheckTargets.policy(); err != nil {
		return bad("%v", err)
	}
	if err := c.validateHTTPSecurity(); err != nil {
		return bad("%v", err)
	}
	if _, err := zerolog.ParseLevel(c.LogLevel); err != nil || c.LogLevel == "" {
		return bad("log_level %q: want debug, info, warn or error", c.LogLevel)
	}
	g, l := c.Gossip, c.Leases
	switch {
	case g.Fanout < 0 || g.Fanout > 32:
		return bad("gossip.fanout %d: want 0 (automatic) .. 32", g.Fanout)
	case g.PushPullInterval < 100*time.Millisecond:
		return bad("gossip.push_pull_interval %v: want >= 100ms", g.PushPullInterval)
	case g.RejoinInterval < 100*time.Millisecond:
		return bad("gossip.rejoin_interval %v: want >= 100ms", g.RejoinInterval)
	case g.RejoinMaxWait < g.RejoinInterval:
		return bad("gossip.rejoin_max_wait %v: want >= rejoin_interval (%v)", g.RejoinMaxWait, g.RejoinInterval)
	case g.SyncInterval < 0:
		return bad("gossip.sync_interval %v: want >= 0", g.SyncInterval)
	case l.Grace < 0:
		return bad("leases.grace %v: want >= 0", l.Grace)
	case l.ReapAfter <= l.Grace:
		return bad("leases.reap_after %v: want > leases.grace %v", l.ReapAfter, l.Grace)
	case l.StaleMaxAge < 0 || l.StaleMaxAge > l.ReapAfter:
		return bad("leases.stale_max_age %v: want 0..leases.reap_after", l.StaleMaxAge)
	case l.PreservationMax <= 0:
		return bad("leases.preservation_max %v: want > 0", l.PreservationMax)
	case l.TombstoneHorizon < time.Minute:
		return bad("leases.tombstone_horizon %v: want >= 1m", l.TombstoneHorizon)
	case l.MassFailureFraction <= 0 || l.MassFailureFraction > 1:
		return bad("leases.mass_failure_fraction %v: want (0, 1]", l.MassFailureFraction)
	case l.UnknownGrace < 0:
		return bad("leases.unknown_grace %v: want >= 0", l.UnknownGrace)
	case l.MaxEpochAhead < time.Minute:
		return bad("leases.max_epoch_ahead %v: want >= 1m", l.MaxEpochAhead)
	case l.MaxRecordsPerOrigin < 1:
		return bad("leases.max_records_per_origin %d: want >= 1", l.MaxRecordsPerOrigin)
	case l.MaxValueBytes < 512 || l.MaxValueBytes > 64<<10:
		return bad("leases.max_value_bytes %d: want 512..65536", l.MaxValueBytes)
	case l.FloorMemory < 0:
		return bad("leases.floor_memory %v: want >= 0", l.FloorMemory)
	}
	return nil
}

// Keys decodes Encrypt and EncryptKeys, primary first; nil when no key is
// configured.
func (c *Config) Keys() ([][]byte, error) {
	if c.Encrypt == "" {
		if len(c.EncryptKeys) > 0 {
			return nil, errors.New("encrypt_keys given without a primary encrypt key")
		}
		return nil, nil
	}
	var keys [][]byte
	for i, s := range append([]string{c.Encrypt}, c.EncryptKeys...) {
		k, err := DecodeKey(s)
		if err != nil {
			if i == 0 {
				return nil, fmt.Errorf("encrypt: %w", err)
			}
			return nil, fmt.Errorf("encrypt_keys[%d]: %w", i-1, err)
		}
		keys = append(keys, k)
	}
	return keys, nil
}

// cidrs parses AllowedCIDRs.
func (g GossipConfig) cidrs() ([]net.IPNet, error) {
	out := make([]net.IPNet, 0, len(g.AllowedCIDRs))
	for _, s := range g.AllowedCIDRs {
		_, n, err := net.ParseCIDR(s)
		if err != nil {
			return nil, fmt.Errorf("gossip.allowed_cidrs %q: want a network like 10.0.0.0/8", s)
		}
		out = append(out, *n)
	}
	return out, nil
}

// LoadFile reads a YAML config file over c and records it as c.ConfigFile.
// Unknown keys are errors, so a typo never silently falls back to a default.
// Comments are allowed.
func (c *Config) LoadFile(path string) error {
	b, err := safefile.Read(path, maxConfigFile)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrConfig, err)
	}
	if err := c.load(b, path); err != nil {
		return err
	}
	c.ConfigFile = path
	return nil
}

// maxConfigFile bounds a config file; real ones are a few KiB.
const maxConfigFile = 1 << 20

func (c *Config) load(b []byte, name string) error {
	if len(b) > maxConfigFile {
		return fmt.Errorf("%w: %s is %d bytes, limit %d", ErrConfig, name, len(b), maxConfigFile)
	}
	b, err := httpBlockForm(b)
	if err != nil {
		return fmt.Errorf("%w: %s: %v", ErrConfig, name, err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(c); err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("%w: %s: %v", ErrConfig, name, err)
	}
	return nil
}

func splitHostPort(addr string, hostRequired bool) (string, int, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, err
	}
	p, err := strconv.Atoi(port)
	if err != nil || p < 0 || p > 65535 {
		return "", 0, fmt.Errorf("port %q out of range", port)
	}
	if hostRequired && host == "" {
		return "", 0, fmt.Errorf("missing host")
	}
	return host, p, nil
}

func printable(s string) bool {
	for _, r := range s {
		if r <= ' ' || r == 0x7f {
			return false
		}
	}
	return true
}
