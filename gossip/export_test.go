package gossip

import "github.com/grapevine-sd/grapevine/crdt"

// EncodePushForTest lets external tests craft a push message.
func EncodePushForTest(from string, d crdt.Delta) []byte { return must(EncodePush(from, d)) }
