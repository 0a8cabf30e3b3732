package agent

import (
	"net"
	"net/netip"
	"os"
	"strings"
	"sync"
	"time"
)

// hostCheck decides which Host headers a listener answers: its own names and
// addresses, so a browser page on a DNS-rebound name (evil.example resolving
// to 127.0.0.1) is refused. Any Host is allowed when allowed_hosts has "*".
type hostCheck struct {
	any   bool
	names map[string]bool
	ips   map[netip.Addr]bool
	// wildcard: the listener is on 0.0.0.0 or ::, so every local interface
	// address is its own.
	wildcard bool
	ifaces   ifaceAddrs
}

// ifaceAddrs caches the addresses of this host's interfaces (without
// zones), read again when older than ifaceRefresh.
type ifaceAddrs struct {
	list func() ([]net.Addr, error) // net.InterfaceAddrs when nil (tests set it)

	mu  sync.Mutex // guards at, set
	at  time.Time
	set map[netip.Addr]bool
}

const ifaceRefresh = 5 * time.Second

// has reports whether a is an address of one of this host's interfaces.
func (f *ifaceAddrs) has(a netip.Addr) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.set == nil || time.Since(f.at) > ifaceRefresh {
		f.set, f.at = map[netip.Addr]bool{}, time.Now()
		list := f.list
		if list == nil {
			list = net.InterfaceAddrs
		}
		addrs, _ := list() // none known: none is this host's
		for _, ad := range addrs {
			if p, err := netip.ParsePrefix(ad.String()); err == nil {
				f.set[p.Addr().Unmap().WithZone("")] = true
			}
		}
	}
	return f.set[a]
}

func newHostCheck(cfg Config, listen string) *hostCheck {
	h := &hostCheck{names: map[string]bool{"localhost": true}, ips: map[netip.Addr]bool{}}
	add := func(host string) {
		host = normalizeHost(host)
		if host == "" {
			return
		}
		if ip, err := netip.ParseAddr(host); err == nil {
			ip = ip.Unmap()
			if ip.IsUnspecified() {
				h.wildcard = true
			} else {
				h.ips[ip] = true
			}
			return
		}
		h.names[host] = true
	}
	hostOf := func(addr string) string {
		host, _, err := net.SplitHostPort(addr)
		if err != nil {
			return ""
		}
		if host == "" {
			h.wildcard = true
		}
		return host
	}
	add(hostOf(listen))
	add(hostOf(cfg.Advertise))
	add(cfg.Node)
	if hn, err := os.Hostname(); err == nil {
		add(hn)
	}
	for _, a := range cfg.HTTPConfig.AllowedHosts {
		if a == "*" {
			h.any = true
		}
		add(a)
	}
	return h
}

// normalizeHost lowercases and strips a port, IPv6 brackets and a trailing
// dot. A "port" that is not a decimal port number stays part of the name, so
// "127.0.0.1:80.evil.example" is not taken for 127.0.0.1.
func normalizeHost(host string) string {
	if h, port, err := net.SplitHostPort(host); err == nil && validPort(port) {
		host = h
	}
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	return strings.TrimSuffix(strings.ToLower(host), ".")
}

// validPort reports whether p is a port as a Host header writes it: 1 to 5
// decimal digits, nothing else (no sign, no letters).
func validPort(p string) bool {
	if p == "" || len(p) > 5 {
		return p == "" // "host:" is allowed by RFC 3986
	}
	for _, c := range p {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// allowed reports whether a request with this Host header is answered.
// An empty Host (HTTP/1.0) is: browsers always send one.
func (h *hostCheck) allowed(host string) bool {
	if h.any {
		return true
	}
	host = normalizeHost(host)
	if host == "" || h.names[host] {
		return true
	}
	if i := strings.IndexByte(host, '%'); i >= 0 { // fe80::1%eth0
		host = host[:i]
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return false
	}
	ip = ip.Unmap()
	if ip.IsLoopback() || h.ips[ip] {
		return true
	}
	return h.wildcard && h.ifaces.has(ip)
}
