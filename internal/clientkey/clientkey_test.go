package clientkey

import (
	"net/netip"
	"testing"
)

func TestOf(t *testing.T) {
	for _, tt := range []struct{ addr, want string }{
		{"127.0.0.1", "127.0.0.0/8"},
		{"127.45.6.7", "127.0.0.0/8"},
		{"::1", "127.0.0.0/8"},
		{"::ffff:127.9.9.9", "127.0.0.0/8"},
		{"10.0.0.1", "10.0.0.1/32"},
		{"::ffff:10.0.0.1", "10.0.0.1/32"},
		{"2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64"},
		{"2001:db8:1:2:ffff::1", "2001:db8:1:2::/64"},
		{"fe80::1%eth0", "fe80::/64"},
	} {
		if got := Of(netip.MustParseAddr(tt.addr)); got.String() != tt.want {
			t.Errorf("Of(%s) = %s, want %s", tt.addr, got, tt.want)
		}
	}
	if got := Of(netip.Addr{}); got.IsValid() {
		t.Errorf("Of(invalid) = %s, want the zero prefix", got)
	}
}
