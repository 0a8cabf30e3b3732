package gossip

import "github.com/grapevine-sd/grapevine/crdt"

// EncodePushForTest lets external tests craft a push message.
func EncodePushForTest(from string, d crdt.Delta) []byte { return must(EncodePush(from, d)) }

// WithoutSums makes a node advertise that it does not understand msgSum, as
// an agent from before sums (a mixed cluster during a rolling upgrade).
func WithoutSums(c *Config) { c.noSums = true }
