// Command grapevine is Grapevine's single binary: the agent daemon, the lookup
// CLI and the simulator. It parses flags into Configs; the logic lives in the
// packages.
package main

import "os"

func main() {
	os.Exit(run(os.Args, os.Stdout, os.Stderr))
}

// Exit codes, documented in docs/cli.md.
const (
	exitOK       = 0
	exitNoResult = 1 // the command ran, nothing matched
	exitUsage    = 2 // bad flags or arguments
	exitFailure  = 3 // the agent could not be reached or refused the request
)
