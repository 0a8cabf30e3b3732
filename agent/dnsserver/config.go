package dnsserver

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	"go.yaml.in/yaml/v3"
)

// ErrConfig wraps every reason a Config fails Validate.
var ErrConfig = errors.New("dnsserver: invalid config")

// Config configures the DNS server. The YAML form is the agent's `dns` section
// (docs/config.md); a plain string there is read as Addr alone.
type Config struct {
	// Addr is the listener, UDP and TCP (host:port). Empty disables DNS.
	Addr string `yaml:"addr"`
	// Domains are the domains answered, each a fully qualified name (a
	// trailing dot is added). Names outside them get REFUSED. Default
	// ["grapevine."]; add "consul." to answer Consul's names.
	Domains []string `yaml:"domains"`
	// ServiceTTL is the TTL of service records; an instance's meta "dns_ttl"
	// overrides it (the smallest of an answer's instances wins).
	ServiceTTL time.Duration `yaml:"service_ttl"`
	// NodeTTL is the TTL of node, addr, NS and glue records.
	NodeTTL time.Duration `yaml:"node_ttl"`
	// StaleTTL is the TTL of a stale instance (its owner unreachable), in
	// place of its service TTL, so resolvers ask again soon after a heal.
	StaleTTL time.Duration `yaml:"stale_ttl"`
	// NegativeTTL is how long resolvers may cache NXDOMAIN and NODATA: the
	// SOA's TTL and MINIMUM field (RFC 2308).
	NegativeTTL time.Duration `yaml:"negative_ttl"`
	// MaxUDPSize caps the UDP payload size a client may ask for with EDNS
	// (512..65535). Default 1232 (DNS flag day 2020): no fragmentation, and
	// at most that many bytes out for any query in.
	MaxUDPSize int `yaml:"max_udp_size"`
	// UDPAnswerLimit caps the answer records of a UDP response to a query
	// without EDNS: a random subset (0 = no limit). Default 3, as Consul's.
	UDPAnswerLimit int `yaml:"udp_answer_limit"`
	// RateLimit limits UDP responses per client prefix; off by default.
	RateLimit RateLimitConfig `yaml:"rate_limit"`

	// Zone is this agent's zone: its instances come first in answers.
	Zone string `yaml:"-"`
	// Node is this agent's node name: the address of ns.DOMAIN when the
	// listener is bound to all addresses.
	Node string `yaml:"-"`
	// Source is what the server answers from (required).
	Source Source `yaml:"-"`
	// Resolver looks up instance addresses that are host names outside the
	// server's domains. Default net.DefaultResolver.
	Resolver HostResolver `yaml:"-"`
	// Logger receives the server's logs. Default: none.
	Logger zerolog.Logger `yaml:"-"`
	// Registerer, if set, gets the server's metrics.
	Registerer prometheus.Registerer `yaml:"-"`
	// Now is the clock. Default time.Now.
	Now func() time.Time `yaml:"-"`
	// clientKey is the client a TCP connection counts against (tests).
	// Default clientkey.Of: all of loopback is one client.
	clientKey func(netip.Addr) netip.Prefix
}

// RateLimitConfig is response rate limiting (RRL) of UDP answers per client
// prefix: a token bucket per prefix in a fixed-size table.
type RateLimitConfig struct {
	// PerSecond is the sustained number of responses per second to one
	// client prefix; 0 disables rate limiting.
	PerSecond int `yaml:"per_second"`
	// Burst is the bucket size (default 2×PerSecond).
	Burst int `yaml:"burst"`
	// IPv4PrefixLen and IPv6PrefixLen group clients (default /24 and /56).
	IPv4PrefixLen int `yaml:"ipv4_prefix_len"`
	IPv6PrefixLen int `yaml:"ipv6_prefix_len"`
	// Slip: every Slip-th limited response is sent as an empty truncated
	// answer (TC set) so a real client retries over TCP; the others are
	// dropped. 0 drops all. Default 2.
	Slip int `yaml:"slip"`
	// Table is the number of prefixes tracked (memory is fixed:
	// about 48 bytes each). Default 65536.
	Table int `yaml:"table"`
}

// Defaults.
const (
	DefaultAddr           = "127.0.0.1:7948"
	DefaultDomain         = "grapevine."
	DefaultMaxUDPSize     = 1232
	DefaultUDPAnswerLimit = 3
)

// DefaultConfig returns the defaults.
func DefaultConfig() Config {
	return Config{
		Addr:           DefaultAddr,
		Domains:        []string{DefaultDomain},
		ServiceTTL:     5 * time.Second,  // a few seconds: cached a little, stale a little
		NodeTTL:        30 * time.Second, // agent addresses rarely change
		StaleTTL:       time.Second,      // a stale answer is asked again soon
		NegativeTTL:    5 * time.Second,  // a service registered next is found within seconds
		MaxUDPSize:     DefaultMaxUDPSize,
		UDPAnswerLimit: DefaultUDPAnswerLimit,
		RateLimit: RateLimitConfig{
			PerSecond:     0, // off: a loopback listener has one client
			IPv4PrefixLen: 24,
			IPv6PrefixLen: 56,
			Slip:          2,
			Table:         1 << 16,
		},
	}
}

const maxTTL = 24 * time.Hour

// Validate checks every field and normalizes Domains (lowercase, fully
// qualified).
func (c *Config) Validate() error {
	bad := func(format string, a ...any) error {
		return fmt.Errorf("%w: %s", ErrConfig, fmt.Sprintf(format, a...))
	}
	if c.Addr != "" {
		host, port, err := net.SplitHostPort(c.Addr)
		if err != nil {
			return bad("addr %q: %v", c.Addr, err)
		}
		if p, err := strconv.Atoi(port); err != nil || p < 0 || p > 65535 {
			return bad("addr %q: port out of range", c.Addr)
		}
		if host != "" && net.ParseIP(host) == nil && host != "localhost" {
			return bad("addr %q: host must be an IP address", c.Addr)
		}
	}
	if len(c.Domains) == 0 {
		return bad("domains: at least one domain is needed")
	}
	if len(c.Domains) > 8 {
		return bad("domains: %d given, at most 8", len(c.Domains))
	}
	doms := make([]string, len(c.Domains))
	for i, d := range c.Domains {
		n, err := normalizeDomain(d)
		if err != nil {
			return bad("domains: %v", err)
		}
		for _, o := range doms[:i] {
			if o == n || strings.HasSuffix(n, "."+o) || strings.HasSuffix(o, "."+n) {
				return bad("domains: %q and %q overlap", o, n)
			}
		}
		doms[i] = n
	}
	c.Domains = doms
	for _, t := range []struct {
		name string
		v    time.Duration
	}{{"service_ttl", c.ServiceTTL}, {"node_ttl", c.NodeTTL}, {"stale_ttl", c.StaleTTL}, {"negative_ttl", c.NegativeTTL}} {
		if t.v < 0 || t.v > maxTTL {
			return bad("%s %v: want 0..24h", t.name, t.v)
		}
	}
	switch {
	case c.MaxUDPSize < 512 || c.MaxUDPSize > 65535:
		return bad("max_udp_size %d: want 512..65535", c.MaxUDPSize)
	case c.UDPAnswerLimit < 0 || c.UDPAnswerLimit > 64:
		return bad("udp_answer_limit %d: want 0 (no limit)..64", c.UDPAnswerLimit)
	}
	r := &c.RateLimit
	switch {
	case r.PerSecond < 0 || r.PerSecond > 1e6:
		return bad("rate_limit.per_second %d: want 0 (off)..1000000", r.PerSecond)
	case r.Burst < 0 || r.Burst > 1e7:
		return bad("rate_limit.burst %d: want 0 (2×per_second)..10000000", r.Burst)
	case r.IPv4PrefixLen < 8 || r.IPv4PrefixLen > 32:
		return bad("rate_limit.ipv4_prefix_len %d: want 8..32", r.IPv4PrefixLen)
	case r.IPv6PrefixLen < 16 || r.IPv6PrefixLen > 128:
		return bad("rate_limit.ipv6_prefix_len %d: want 16..128", r.IPv6PrefixLen)
	case r.Slip < 0 || r.Slip > 10:
		return bad("rate_limit.slip %d: want 0..10", r.Slip)
	case r.Table < 1 || r.Table > 1<<22:
		return bad("rate_limit.table %d: want 1..4194304", r.Table)
	}
	return nil
}

// normalizeDomain returns d lowercase and fully qualified, or an error if it
// is not a valid domain name of at most 4 labels (the root is refused: the
// server would claim every name).
func normalizeDomain(d string) (string, error) {
	n := strings.ToLower(strings.TrimSuffix(d, "."))
	if n == "" {
		return "", fmt.Errorf("%q: the root cannot be served", d)
	}
	labels := strings.Split(n, ".")
	if len(labels) > 4 || len(n) > 200 {
		return "", fmt.Errorf("%q: at most 4 labels and 200 bytes", d)
	}
	for _, l := range labels {
		if l == "" || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
			return "", fmt.Errorf("%q: not a domain name", d)
		}
		for i := 0; i < len(l); i++ {
			if c := l[i]; !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
				return "", fmt.Errorf("%q: not a domain name (a-z, 0-9, '-')", d)
			}
		}
	}
	return n + ".", nil
}

// configKeys are the YAML keys of Config, for the unknown-key check.
var configKeys = map[string]bool{"addr": true, "domains": true, "service_ttl": true, "node_ttl": true,
	"stale_ttl": true, "negative_ttl": true, "max_udp_size": true, "udp_answer_limit": true, "rate_limit": true}

var rateLimitKeys = map[string]bool{"per_second": true, "burst": true, "ipv4_prefix_len": true,
	"ipv6_prefix_len": true, "slip": true, "table": true}

// UnmarshalYAML reads the `dns` section: a plain string is the address alone
// (the form of earlier versions), a mapping sets the keys it names over the
// current values. Unknown keys are errors.
func (c *Config) UnmarshalYAML(n *yaml.Node) error {
	switch n.Kind {
	case yaml.ScalarNode:
		return n.Decode(&c.Addr)
	case yaml.MappingNode:
		if err := checkKeys(n, configKeys, "dns"); err != nil {
			return err
		}
		type plain Config
		return n.Decode((*plain)(c))
	}
	return fmt.Errorf("line %d: dns: want an address or a mapping", n.Line)
}

// UnmarshalYAML reads the `dns.rate_limit` section: a mapping, or a plain
// number for per_second alone.
func (r *RateLimitConfig) UnmarshalYAML(n *yaml.Node) error {
	switch n.Kind {
	case yaml.ScalarNode:
		return n.Decode(&r.PerSecond)
	case yaml.MappingNode:
		if err := checkKeys(n, rateLimitKeys, "dns.rate_limit"); err != nil {
			return err
		}
		type plain RateLimitConfig
		return n.Decode((*plain)(r))
	}
	return fmt.Errorf("line %d: dns.rate_limit: want a number or a mapping", n.Line)
}

func checkKeys(n *yaml.Node, known map[string]bool, section string) error {
	if n.Kind != yaml.MappingNode {
		return fmt.Errorf("line %d: %s: want a mapping", n.Line, section)
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if k := n.Content[i]; !known[k.Value] {
			return fmt.Errorf("line %d: field %s not found in %s", k.Line, k.Value, section)
		}
	}
	return nil
}
