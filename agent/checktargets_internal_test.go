package agent

import (
	"errors"
	"net"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/grapevine-sd/grapevine/probe"
)

func TestCheckTargetPolicy(t *testing.T) {
	def := CheckTargetsConfig{Deny: slices.Clone(DefaultCheckTargetsDeny)}
	local := CheckTargetsConfig{Allow: []string{"169.254.1.0/24"}, Deny: append(slices.Clone(DefaultCheckTargetsDeny), "127.0.0.0/8", "::1")}
	tests := []struct {
		cfg    CheckTargetsConfig
		addr   string
		denied bool
	}{
		{def, "169.254.169.254", true},
		{def, "::ffff:169.254.169.254", true},
		{def, "64:ff9b::a9fe:a9fe", true}, // NAT64 of 169.254.169.254
		{def, "169.254.170.2", true},
		{def, "fe80::1%eth0", true},
		{def, "fd00:ec2::254", true},
		{def, "100.100.100.200", true},
		{def, "224.0.0.1", true},
		{def, "127.0.0.1", false},
		{def, "::1", false},
		{def, "0.0.0.0", false},
		{def, "10.1.2.3", false},
		{def, "192.168.1.10", false},
		{def, "2001:db8::1", false},
		{local, "169.254.1.5", false}, // allow wins
		{local, "169.254.169.254", true},
		{local, "127.0.0.1", true},
		{local, "0.0.0.0", true}, // the kernel connects it to loopback
		{local, "::", true},
		{local, "::1", true},
		{local, "10.1.2.3", false},
		{CheckTargetsConfig{}, "169.254.169.254", false}, // deny: [] refuses nothing
	}
	for _, tt := range tests {
		p, err := tt.cfg.policy()
		if err != nil {
			t.Fatal(err)
		}
		err = p.check(netip.MustParseAddr(tt.addr))
		if (err != nil) != tt.denied || err != nil && !errors.Is(err, ErrCheckTargetDenied) {
			t.Errorf("%v: check(%s) = %v, want denied %v", tt.cfg, tt.addr, err, tt.denied)
		}
	}
	for _, bad := range [][]string{{"nope"}, {"10.0.0.0/33"}, {"fe80::1%eth0"}, {"::ffff:10.0.0.0/104"}} {
		if _, err := (CheckTargetsConfig{Deny: bad}).policy(); err == nil {
			t.Errorf("deny %q accepted", bad)
		}
		if _, err := (CheckTargetsConfig{Allow: bad}).policy(); err == nil {
			t.Errorf("allow %q accepted", bad)
		}
	}
}

// "host" in allow stands for loopback and this host's interface addresses,
// link-local ones excepted.
func TestCheckTargetsAllowHost(t *testing.T) {
	p, err := (CheckTargetsConfig{Allow: []string{"host", "10.9.0.0/16"}, Deny: []string{"0.0.0.0/0", "::/0"}}).policy()
	if err != nil {
		t.Fatal(err)
	}
	p.host.list = func() ([]net.Addr, error) {
		var out []net.Addr
		for _, s := range []string{"127.0.0.1/8", "10.1.2.3/24", "2001:db8::7/64", "fe80::1/64", "169.254.169.254/32"} {
			ip, n, _ := net.ParseCIDR(s)
			out = append(out, &net.IPNet{IP: ip, Mask: n.Mask})
		}
		return out, nil
	}
	for addr, allowed := range map[string]bool{
		"127.0.0.1": true, "127.5.5.5": true, "::1": true, "0.0.0.0": true, "::": true,
		"10.1.2.3": true, "::ffff:10.1.2.3": true, "2001:db8::7": true, "10.9.1.1": true,
		"10.1.2.4": false, "2001:db8::8": false, "fe80::1": false, "169.254.169.254": false, "8.8.8.8": false,
	} {
		if err := p.check(netip.MustParseAddr(addr)); (err == nil) != allowed {
			t.Errorf("check(%s) = %v, want allowed %v", addr, err, allowed)
		}
	}
	if _, err := (CheckTargetsConfig{Deny: []string{"host"}}).policy(); err == nil {
		t.Error(`deny: [host] accepted; "host" is for allow`)
	}
}

// FuzzCheckTargets feeds arbitrary check_targets entries, addresses and
// check targets: never a panic; an address inside an allow entry is never
// refused, and one inside a deny entry (and no allow entry) always is.
func FuzzCheckTargets(f *testing.F) {
	f.Add("169.254.0.0/16,fe80::/10", "10.0.0.0/8", "169.254.169.254", "http://169.254.169.254/latest/")
	f.Add("0.0.0.0/0,::/0", "127.0.0.0/8,::1", "::ffff:10.0.0.1", "[64:ff9b::a9fe:a9fe]:80")
	f.Add("127.0.0.1", "", "0.0.0.0", "localhost:80/svc")
	f.Add("bad", "1.2.3.4/40", "fe80::1%eth0", "http://[fe80::1%25eth0]:8080/")
	f.Fuzz(func(t *testing.T, deny, allow, addr, target string) {
		split := func(s string) []string {
			if s == "" {
				return nil
			}
			return strings.Split(s, ",")
		}
		p, err := (CheckTargetsConfig{Allow: split(allow), Deny: split(deny)}).policy()
		if err != nil {
			return
		}
		for _, typ := range []probe.Type{probe.HTTP, probe.TCP, probe.GRPC} {
			c := probe.Check{Type: typ, Target: target}
			_ = p.restrict(&c)
			if c.AllowAddr == nil {
				t.Fatalf("%s check %q left unrestricted", typ, target)
			}
		}
		a, err := netip.ParseAddr(addr)
		if err != nil {
			return
		}
		err = p.check(a)
		u := a.Unmap().WithZone("")
		if containsAddr(p.allow, u) != nil && !a.IsUnspecified() && !nat64.Contains(a) && err != nil {
			t.Fatalf("%s is allowed by %v but refused: %v", a, p.allow, err)
		}
		if containsAddr(p.deny, u) != nil && containsAddr(p.allow, u) == nil && !p.allowHost && err == nil {
			t.Fatalf("%s is denied by %v but accepted", a, p.deny)
		}
	})
}
