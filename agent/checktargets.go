package agent

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"slices"

	"github.com/grapevine-sd/grapevine/probe"
)

// CheckTargetsConfig restricts the addresses that HTTP, TCP and gRPC checks
// registered over the HTTP API (native or Consul-compatible) may connect to
// (config key check_targets; docs/security.md). Checks from the operator's
// definition files in ConfigDir are trusted and not restricted. An address
// in Allow is allowed; otherwise one in Deny is refused; any other is
// allowed. The address judged is the one each probe connects to, after name
// resolution.
type CheckTargetsConfig struct {
	// Allow lists addresses or CIDR prefixes allowed even where Deny covers
	// them (e.g. one link-local service). The word "host" stands for
	// loopback and the addresses of this host's interfaces as they are at
	// each connect, link-local ones excepted (a metadata proxy may hold
	// 169.254.169.254 on the host).
	Allow []string `yaml:"allow"`
	// Deny lists addresses or CIDR prefixes refused (default
	// DefaultCheckTargetsDeny: link-local, which holds the cloud metadata
	// services, and the metadata addresses outside it). An empty list
	// refuses nothing.
	Deny []string `yaml:"deny"`
}

// DefaultCheckTargetsDeny is check_targets.deny by default: what no check of
// a service on this host needs and a write token must not reach through one.
var DefaultCheckTargetsDeny = []string{
	"169.254.0.0/16",     // IPv4 link-local: AWS, GCP, Azure, OpenStack metadata (169.254.169.254), ECS task metadata
	"fe80::/10",          // IPv6 link-local
	"fd00:ec2::254/128",  // AWS instance metadata over IPv6
	"100.100.100.200/32", // Alibaba Cloud metadata
	"168.63.129.16/32",   // Azure host services (WireServer)
	"224.0.0.0/4",        // multicast
	"ff00::/8",           // IPv6 multicast
	"255.255.255.255/32", // broadcast
}

// maxCheckTargets bounds each list.
const maxCheckTargets = 1024

// ErrCheckTargetDenied is what a check registered over the API may not reach.
var ErrCheckTargetDenied = errors.New("check target denied")

// nat64 is the well-known NAT64 prefix (RFC 6052): its addresses carry an
// IPv4 address, judged as well.
var nat64 = netip.MustParsePrefix("64:ff9b::/96")

// targetPolicy is a parsed CheckTargetsConfig.
type targetPolicy struct {
	allow, deny []netip.Prefix
	allowHost   bool // "host" in allow
	host        hostAddrs
}

// hostAddrs is what "host" in check_targets.allow stands for.
type hostAddrs struct{ ifaceAddrs }

// has reports whether a is loopback (or unspecified, which the kernel
// connects to this host) or an address of this host's interfaces (not
// link-local).
func (h *hostAddrs) has(a netip.Addr) bool {
	if a.IsLoopback() || a.IsUnspecified() {
		return true
	}
	return !a.IsLinkLocalUnicast() && h.ifaceAddrs.has(a)
}

// hostWord in check_targets.allow stands for this host's addresses.
const hostWord = "host"

func parsePrefixes(key string, list []string) ([]netip.Prefix, error) {
	if len(list) > maxCheckTargets {
		return nil, fmt.Errorf("%s: %d entries, limit %d", key, len(list), maxCheckTargets)
	}
	out := make([]netip.Prefix, 0, len(list))
	for _, s := range list {
		if s == hostWord && key == "check_targets.allow" {
			continue // policy sets allowHost
		}
		p, err := netip.ParsePrefix(s)
		if err != nil {
			a, aerr := netip.ParseAddr(s)
			if aerr != nil || a.Zone() != "" {
				return nil, fmt.Errorf("%s: %q is not an address or CIDR prefix", key, s)
			}
			p = netip.PrefixFrom(a, a.BitLen())
		}
		if p.Addr().Is4In6() {
			return nil, fmt.Errorf("%s: %q: write IPv4-mapped prefixes as IPv4", key, s)
		}
		out = append(out, p.Masked())
	}
	return out, nil
}

// policy parses c.
func (c CheckTargetsConfig) policy() (*targetPolicy, error) {
	allow, err := parsePrefixes("check_targets.allow", c.Allow)
	if err != nil {
		return nil, err
	}
	deny, err := parsePrefixes("check_targets.deny", c.Deny)
	if err != nil {
		return nil, err
	}
	return &targetPolicy{allow: allow, deny: deny, allowHost: slices.Contains(c.Allow, hostWord)}, nil
}

// check refuses an address the policy denies. IPv4-mapped and NAT64
// addresses are judged by the IPv4 address they carry too, and the
// unspecified address (which the kernel connects to this host) as loopback.
func (p *targetPolicy) check(a netip.Addr) error {
	a = a.WithZone("")
	forms := []netip.Addr{a.Unmap()}
	switch {
	case a.IsUnspecified():
		forms = append(forms, netip.MustParseAddr("127.0.0.1"), netip.IPv6Loopback())
	case a.Is6() && nat64.Contains(a):
		b := a.As16()
		forms = append(forms, netip.AddrFrom4([4]byte{b[12], b[13], b[14], b[15]}))
	}
	for _, f := range forms {
		if containsAddr(p.allow, f) != nil || p.allowHost && p.host.has(f) {
			continue
		}
		if d := containsAddr(p.deny, f); d != nil {
			return fmt.Errorf("%w: %s is in %s (check_targets.deny; checks registered over the API may not connect there, checks in config_dir files may)", ErrCheckTargetDenied, a, d)
		}
	}
	return nil
}

func containsAddr(list []netip.Prefix, a netip.Addr) *netip.Prefix {
	for i := range list {
		if list[i].Contains(a) {
			return &list[i]
		}
	}
	return nil
}

// restrict makes c (a check registered over the API) obey the policy:
// every connection of its probes is judged where it goes (a name by what it
// resolves to then), and a target given as a literal address that the
// policy denies is an error (a new registration is refused with it).
func (p *targetPolicy) restrict(c *probe.Check) error {
	c.AllowAddr = p.check
	var host string
	switch c.Type {
	case probe.HTTP:
		if u, err := url.Parse(c.Target); err == nil {
			host = u.Hostname()
		}
	case probe.TCP:
		host, _, _ = net.SplitHostPort(c.Target)
	case probe.GRPC:
		if addr, _, err := probe.SplitGRPCTarget(c.Target); err == nil {
			host, _, _ = net.SplitHostPort(addr)
		}
	default:
		return nil
	}
	if a, err := netip.ParseAddr(host); err == nil { // Hostname and SplitHostPort drop the brackets
		return p.check(a)
	}
	return nil
}
