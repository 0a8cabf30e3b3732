package agent

import (
	"errors"
	"net/netip"
	"slices"
	"testing"
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
