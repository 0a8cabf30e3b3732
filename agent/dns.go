package agent

import (
	"fmt"
	"strings"
	"sync/atomic"

	"github.com/grapevine-sd/grapevine/agent/dnsserver"
	"github.com/grapevine-sd/grapevine/catalog"
)

// startDNS starts the DNS server (docs/dns.md) over the catalog and
// membership, and registers its metrics.
func (a *Agent) startDNS() error {
	c := a.cfg.DNS
	c.Zone, c.Node = a.cfg.Zone, a.cfg.Node
	c.Source = &dnsSource{a: a}
	c.Logger = a.cfg.Logger.With().Str("component", "dns").Logger()
	c.Now = a.cfg.Now
	d, err := dnsserver.New(c)
	if err != nil {
		return fmt.Errorf("agent: dns: %w", err)
	}
	if err := a.metrics.Register(d); err != nil {
		a.log.Warn().Err(err).Msg("dns metrics")
	}
	a.mu.Lock()
	a.dns = d
	a.mu.Unlock()
	a.log.Info().Str("addr", d.Addr()).Strs("domains", c.Domains).Msg("dns listening")
	return nil
}

// dnsSource serves DNS from the agent's catalog (the default lookup) and
// the member addresses it remembers.
type dnsSource struct {
	a *Agent
	// last is the member-address map Version last saw; ver counts changes.
	// The map is copy-on-write, so a new pointer means new addresses.
	last atomic.Pointer[map[string]string]
	ver  atomic.Uint64
}

var _ dnsserver.Source = (*dnsSource)(nil)

func (d *dnsSource) Service(name string) (uint64, []dnsserver.Instance) {
	res := d.a.cat.Service(name, catalog.Filter{})
	if res.Index == 0 {
		return 0, nil
	}
	out := make([]dnsserver.Instance, 0, len(res.Entries))
	for _, e := range res.Entries {
		in := dnsserver.Instance{Node: e.Node, Address: e.Address, Port: e.Port, Tags: e.Tags, Zone: e.Zone, Stale: e.Stale}
		if in.Address == "" {
			in.Address, _ = d.a.memberAddress(e.Node)
			in.NodeAddress = true
		}
		if v, ok := e.Meta[dnsserver.MetaTTL]; ok {
			in.TTL, _ = dnsserver.ParseTTL(v)
		}
		out = append(out, in)
	}
	return res.Index, out
}

func (d *dnsSource) ServiceIndex(name string) uint64 { return d.a.cat.Index(name) }

// NodeAddress matches node names case-insensitively (DNS names are).
func (d *dnsSource) NodeAddress(name string) (string, bool) {
	if addr, ok := d.a.memberAddress(name); ok {
		return addr, true
	}
	if m := d.a.addrs.Load(); m != nil {
		for n, addr := range *m {
			if strings.EqualFold(n, name) {
				return addr, true
			}
		}
	}
	if node := d.a.Node(); node != nil {
		for _, m := range node.Members() {
			if strings.EqualFold(m.Name, name) {
				return d.a.memberAddress(m.Name)
			}
		}
	}
	return "", false
}

func (d *dnsSource) Version() uint64 {
	if p := d.a.addrs.Load(); d.last.Load() != p {
		d.last.Store(p)
		d.ver.Add(1)
	}
	return d.ver.Load()
}
