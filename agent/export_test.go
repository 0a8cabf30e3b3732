package agent

// FingerprintMetaForTest is the gossip metadata of a member whose catalog
// fingerprint has the given hash (for tests of disagreeing members).
func FingerprintMetaForTest(zone string, hash uint64) []byte {
	return encodeMeta(nodeMeta{Zone: zone, Version: "test", Fingerprint: &fingerprint{Hash: hash, Origins: 1}})
}
