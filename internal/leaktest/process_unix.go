//go:build unix

package leaktest

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// ProcessRunning reports whether process pid exists and is not a zombie: a
// killed child whose new parent has not reaped it yet is dead for this
// purpose.
func ProcessRunning(pid int) bool {
	if syscall.Kill(pid, 0) != nil {
		return false
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true // no /proc: trust kill
	}
	// pid (comm) state ...: comm may hold spaces, the state follows its ')'.
	s := string(stat)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || i+2 >= len(s) || s[i+2] != 'Z'
}

// WaitPIDFile waits up to timeout for the process whose pid is in file (as
// a shell's `echo $! > file` writes it) to end: a process that outlives the
// code that started it leaks like a goroutine.
func WaitPIDFile(file string, timeout time.Duration) error {
	b, err := os.ReadFile(file)
	if err != nil {
		return fmt.Errorf("leaktest: %w", err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		return fmt.Errorf("leaktest: pid file %s: %w", file, err)
	}
	deadline := time.Now().Add(timeout)
	for ProcessRunning(pid) {
		if time.Now().After(deadline) {
			return fmt.Errorf("process %d still runs %v later", pid, timeout)
		}
		time.Sleep(10 * time.Millisecond)
	}
	return nil
}
