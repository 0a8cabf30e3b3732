//go:build unix

package probe

import (
	"os/exec"
	"syscall"
)

// setProcessGroup starts cmd in its own process group and makes cancellation
// kill the whole group, so a timed-out script's children die with it.
func setProcessGroup(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error {
		// The leader is not reaped before Wait returns, so its pid is still the
		// group id here.
		return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	}
}
