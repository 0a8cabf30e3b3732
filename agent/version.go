package agent

// Version is the agent's version, set at build time with
// -ldflags "-X github.com/grapevine-sd/grapevine/agent.Version=...".
var Version = "dev"

// ProtocolVersion is the gossip protocol version this build speaks.
const ProtocolVersion = 1
