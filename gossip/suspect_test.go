package gossip

import "testing"

func TestParseProbeFailure(t *testing.T) {
	tests := []struct {
		line, name string
		ok         bool
	}{
		{"Suspect node-b has failed, no acks received", "node-b", true},
		{"Suspect has failed, no acks received", "", false},
		{"Suspect node-b has failed", "", false},
		{"Marking node-b as failed, suspect timeout reached (2 peer confirmations)", "", false},
		{"Suspect node with spaces has failed, no acks received", "node with spaces", true},
	}
	for _, tt := range tests {
		name, ok := parseProbeFailure(tt.line)
		if name != tt.name || ok != tt.ok {
			t.Errorf("%q: got %q %v, want %q %v", tt.line, name, ok, tt.name, tt.ok)
		}
	}
}
