package agent

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// HTTPConfig bounds and restricts the HTTP API listener (config key
// http_config; docs/config.md).
type HTTPConfig struct {
	// AllowedHosts are further names (or addresses) clients may use in the
	// Host header: the agent answers only its own listen address, node name,
	// hostname, loopback and its interfaces' addresses, and localhost
	// otherwise (DNS rebinding). "*" allows any Host (behind a reverse proxy
	// that checks it).
	AllowedHosts []string `yaml:"allowed_hosts"`
	// MaxConns caps the open connections of the listener (default 1024);
	// beyond it a new connection is answered 503 and closed.
	MaxConns int `yaml:"max_conns"`
	// MaxConnsPerClient caps the open connections from one client (default
	// 200: render and watch with many templates stay far below); beyond it a
	// new connection is answered 429 and closed. A client is an IPv4 address,
	// an IPv6 /64, and all of loopback together (internal/clientkey).
	MaxConnsPerClient int `yaml:"max_conns_per_client"`
	// BodyTimeout is how long a request body may take to arrive in full
	// (default 10s); a slower one is answered 408 and its connection closed.
	BodyTimeout time.Duration `yaml:"body_timeout"`
	// HeaderTimeout is how long the request line and headers may take
	// (default 10s); a slower client's connection is closed.
	HeaderTimeout time.Duration `yaml:"header_timeout"`
	// IdleTimeout is how long a kept-alive connection may wait for its next
	// request (default 2m); then it is closed and its slot freed.
	IdleTimeout time.Duration `yaml:"idle_timeout"`
	// clientKey replaces clientKey for MaxConnsPerClient (tests that stand
	// for several hosts with loopback addresses).
	clientKey func(net.Addr) netip.Prefix
}

// LimitsConfig bounds what the API (and definition files) can make an agent
// hold (config key limits; docs/config.md).
type LimitsConfig struct {
	// Instances caps the instances registered on this agent, API and files
	// together (default 1024). A registration beyond it is answered 429.
	Instances int `yaml:"instances"`
	// ChecksPerInstance caps the checks of one instance (default 32); more
	// is answered 400.
	ChecksPerInstance int `yaml:"checks_per_instance"`
	// Checks caps the checks of all instances of this agent (default 4096,
	// each is a goroutine and, for exec, a process per interval). A
	// registration beyond it is answered 429.
	Checks int `yaml:"checks"`
}

// Defaults of the HTTP bounds and limits.
func defaultHTTPConfig() HTTPConfig {
	return HTTPConfig{
		MaxConns:          1024,             // ~10 KiB each: ~10 MiB at the cap
		MaxConnsPerClient: 200,              // Consul's default; one local host runs many watchers
		BodyTimeout:       10 * time.Second, // a 1 MiB body takes milliseconds on any LAN
		HeaderTimeout:     10 * time.Second,
		IdleTimeout:       2 * time.Minute,
	}
}

func defaultLimits() LimitsConfig {
	return LimitsConfig{Instances: 1024, ChecksPerInstance: 32, Checks: 4096}
}

// validateHTTPSecurity checks the keys of this file and the safe-binding
// rule: an API on a non-loopback address needs TLS or the ACL, unless
// insecure_http says the operator knows.
func (c *Config) validateHTTPSecurity() error {
	h, l := c.HTTPConfig, c.Limits
	switch {
	case h.MaxConns < 1 || h.MaxConns > 1<<20:
		return fmt.Errorf("http_config.max_conns %d: want 1..1048576", h.MaxConns)
	case h.MaxConnsPerClient < 1 || h.MaxConnsPerClient > h.MaxConns:
		return fmt.Errorf("http_config.max_conns_per_client %d: want 1..max_conns (%d)", h.MaxConnsPerClient, h.MaxConns)
	case h.BodyTimeout < 100*time.Millisecond || h.BodyTimeout > 10*time.Minute:
		return fmt.Errorf("http_config.body_timeout %v: want 100ms..10m", h.BodyTimeout)
	case h.HeaderTimeout < 100*time.Millisecond || h.HeaderTimeout > 10*time.Minute:
		return fmt.Errorf("http_config.header_timeout %v: want 100ms..10m", h.HeaderTimeout)
	case h.IdleTimeout < 100*time.Millisecond || h.IdleTimeout > time.Hour:
		return fmt.Errorf("http_config.idle_timeout %v: want 100ms..1h", h.IdleTimeout)
	case len(h.AllowedHosts) > 256:
		return errors.New("http_config.allowed_hosts: more than 256 entries")
	case l.Instances < 1 || l.Instances > 1<<20:
		return fmt.Errorf("limits.instances %d: want 1..1048576", l.Instances)
	case l.ChecksPerInstance < 0 || l.ChecksPerInstance > 1024:
		return fmt.Errorf("limits.checks_per_instance %d: want 0..1024", l.ChecksPerInstance)
	case l.Checks < 0 || l.Checks > 1<<20:
		return fmt.Errorf("limits.checks %d: want 0..1048576", l.Checks)
	}
	for _, a := range h.AllowedHosts {
		n := normalizeHost(a) // a port, brackets, case and a final dot do not matter
		if n == "" || len(a) > 261 || !printable(a) || strings.ContainsAny(a, "/@?#") || strings.Contains(n, ":") && net.ParseIP(n) == nil {
			return fmt.Errorf("http_config.allowed_hosts: %q is not a host name or address", a)
		}
	}
	if err := c.ACL.validate(); err != nil {
		return err
	}
	if err := c.TLS.validate(); err != nil {
		return err
	}
	if c.HTTP != "" && !c.InsecureHTTP && !c.ACL.Enabled && !c.TLS.Enabled() && !loopbackAddr(c.HTTP) {
		return fmt.Errorf("http %s is not a loopback address and neither acl nor tls is enabled: anyone who reaches it could "+
			"register and deregister services; enable acl (and tls), or listen on 127.0.0.1, or accept the risk with -insecure-http (insecure_http: true)", c.HTTP)
	}
	return nil
}

// loopbackAddr reports whether host:port listens on loopback only.
func loopbackAddr(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.Unmap().IsLoopback()
}

// Exposed reports whether the HTTP API listens beyond loopback without
// protection (the -insecure-http case, warned about at every start).
func (c *Config) exposedHTTP() bool {
	return c.HTTP != "" && !loopbackAddr(c.HTTP) && !c.ACL.Enabled
}

// httpBlockForm rewrites a config file whose http key is a mapping,
//
//	http:
//	  addr: 127.0.0.1:7947
//	  allowed_hosts: [registry.example.com]
//
// into the flat form (http: ADDR plus http_config: {...}), so both spellings
// load. Other files come back unchanged.
func httpBlockForm(b []byte) ([]byte, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(b, &doc); err != nil || len(doc.Content) != 1 || doc.Content[0].Kind != yaml.MappingNode {
		return b, nil // the strict decoder reports what is wrong
	}
	root := doc.Content[0]
	var block *yaml.Node
	hasFlat := false
	for i := 0; i+1 < len(root.Content); i += 2 {
		switch root.Content[i].Value {
		case "http":
			if root.Content[i+1].Kind == yaml.MappingNode {
				block = root.Content[i+1]
				root.Content[i+1] = &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: DefaultHTTPAddr}
			}
		case "http_config":
			hasFlat = true
		}
	}
	if block == nil {
		return b, nil
	}
	if hasFlat {
		return nil, errors.New("http as a block and http_config exclude each other")
	}
	rest := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
	for i := 0; i+1 < len(block.Content); i += 2 {
		k, v := block.Content[i], block.Content[i+1]
		if k.Value == "addr" {
			for j := 0; j+1 < len(root.Content); j += 2 {
				if root.Content[j].Value == "http" {
					root.Content[j+1] = v
				}
			}
			continue
		}
		rest.Content = append(rest.Content, k, v)
	}
	root.Content = append(root.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: "http_config"}, rest)
	return yaml.Marshal(&doc)
}
