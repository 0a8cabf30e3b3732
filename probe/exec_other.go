//go:build !unix

package probe

import "os/exec"

// setProcessGroup: without Unix process groups only the process itself is
// killed on timeout (exec.CommandContext's default).
func setProcessGroup(*exec.Cmd) {}
