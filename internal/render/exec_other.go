//go:build !unix

package render

import (
	"context"
	"os/exec"
)

// shellCommand is `/bin/sh -c command`; without Unix process groups only the
// shell itself is killed when ctx ends.
func shellCommand(ctx context.Context, command string) *exec.Cmd {
	return exec.CommandContext(ctx, "/bin/sh", "-c", command)
}
