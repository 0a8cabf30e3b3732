package agent

import "testing"

// TestHostCheckPortIsDigits: a Host header whose "port" is not a port does
// not borrow the loopback address before its colon (a rebinding name such as
// 127.0.0.1:80.evil.example must not pass as 127.0.0.1).
func TestHostCheckPortIsDigits(t *testing.T) {
	h := newHostCheck(DefaultConfig(), "127.0.0.1:7947")
	tests := []struct {
		host string
		want bool
	}{
		{"127.0.0.1:7947", true},
		{"127.0.0.1", true},
		{"localhost:7947", true},
		{"[::1]:7947", true},
		{"127.0.0.1:", true},
		{"127.0.0.1:7947.evil.example", false},
		{"127.0.0.1:+80", false},
		{"127.0.0.1:-1", false},
		{"localhost:80x", false},
		{"127.0.0.1:123456", false},
		{"evil.example:7947", false},
	}
	for _, tt := range tests {
		if got := h.allowed(tt.host); got != tt.want {
			t.Errorf("allowed(%q) = %v, want %v", tt.host, got, tt.want)
		}
	}
}
