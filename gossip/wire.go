package gossip

import "github.com/grapevine-sd/grapevine/crdt"

// Wire encoders of this package's messages (docs/protocol.md), for tools and
// for tests that speak the protocol from outside a Node (adversarial tests
// forging messages). A Node never needs them.

// EncodePush encodes d as a msgPush sent by node from.
func EncodePush(from string, d crdt.Delta) ([]byte, error) { return encodePush(from, d) }

// EncodeSync encodes ds as one msgSync sent by node from.
func EncodeSync(from string, ds []crdt.Delta) ([]byte, error) { return encodeSync(from, ds) }

// EncodeDigest encodes dg as a msgDigest from node from; reply asks the
// receiver for its own digest in return.
func EncodeDigest(from string, reply bool, dg crdt.Digest) ([]byte, error) {
	return encodeDigest(from, reply, dg)
}

// EncodeRepair encodes a gap-repair request from node from for origin's
// changes after have.
func EncodeRepair(from, origin string, have crdt.Position) ([]byte, error) {
	return encodeRepair(from, origin, have)
}
