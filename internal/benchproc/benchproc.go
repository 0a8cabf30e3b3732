// Package benchproc holds what the benchmark commands (internal/benchhttp,
// internal/benchdns) share: starting a real agent process, waiting for a
// server to answer, free ports, and the median of alternating rounds.
package benchproc

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/grapevine-sd/grapevine/api"
)

// Programs finds each named program on PATH or in /usr/sbin (where Debian
// puts daemons such as nginx and nsd), in order; ok is false if one is missing.
func Programs(names ...string) (paths []string, ok bool) {
	for _, n := range names {
		p, err := exec.LookPath(n)
		if err != nil {
			if _, serr := os.Stat("/usr/sbin/" + n); serr != nil {
				return nil, false
			}
			p = "/usr/sbin/" + n
		}
		paths = append(paths, p)
	}
	return paths, true
}

// StartDevAgent starts `bin agent -dev` on free loopback ports (DNS on dnsAddr,
// "" for none), with env ("K=V") added to its environment, and returns a
// client of its HTTP API once it answers, and the function that stops it.
func StartDevAgent(ctx context.Context, bin, dnsAddr string, env ...string) (c *api.Client, stop func(), err error) {
	c, _, stop, err = StartDevAgentPid(ctx, bin, dnsAddr, "", env...)
	return c, stop, err
}

// StartDevAgentPid is StartDevAgent that also returns the agent's process ID,
// and runs the agent on the CPUs listed in cpus (taskset's list, e.g. "1";
// "" for any: see Pinned).
func StartDevAgentPid(ctx context.Context, bin, dnsAddr, cpus string, env ...string) (c *api.Client, pid int, stop func(), err error) {
	hp, gp := FreePort(), FreePort()
	for try := 0; gp == hp && try < 5; try++ { // a port just closed may be handed out again at once
		gp = FreePort()
	}
	if hp == 0 || gp == 0 || gp == hp {
		return nil, 0, nil, errors.New("no free port")
	}
	httpAddr := fmt.Sprintf("127.0.0.1:%d", hp)
	prog, args := Pinned(cpus, bin, "agent", "-dev", "-node", "bench", "-http", httpAddr, "-dns", dnsAddr,
		"-bind", fmt.Sprintf("127.0.0.1:%d", gp), "-log-level", "error")
	pid, stop, err = StartEnv(ctx, env, prog, args...)
	if err != nil {
		return nil, 0, nil, err
	}
	c, err = api.NewClient(api.ClientConfig{Address: "http://" + httpAddr, Timeout: 5 * time.Second})
	if err == nil {
		err = WaitUp(ctx, func() error { _, err := c.Self(ctx); return err })
	}
	if err != nil {
		stop()
		return nil, 0, nil, fmt.Errorf("agent: %w", err)
	}
	return c, pid, stop, nil
}

// Pinned returns the program and arguments that run bin with args on the
// CPUs listed in cpus (taskset's list syntax, e.g. "0" or "0,1"): taskset
// sets the affinity and executes bin in its place, so the process ID is bin's,
// and every thread bin starts inherits the mask (a Go program sizes GOMAXPROCS
// from it). With cpus "" it is bin and args unchanged.
func Pinned(cpus, bin string, args ...string) (string, []string) {
	if cpus == "" {
		return bin, args
	}
	return "taskset", append([]string{"-c", cpus, bin}, args...)
}

// PinCPUs returns two CPUs this process may run on, for Pinned (one for the
// load generator, one for the server under test); ok is false when taskset
// (util-linux) is absent or fewer than two CPUs are allowed.
func PinCPUs() (load, server string, ok bool) {
	if _, err := exec.LookPath("taskset"); err != nil {
		return "", "", false
	}
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return "", "", false
	}
	for line := range strings.Lines(string(b)) {
		if list, found := strings.CutPrefix(line, "Cpus_allowed_list:"); found {
			cpus := cpuList(strings.TrimSpace(list), 2)
			if len(cpus) < 2 {
				return "", "", false
			}
			return strconv.Itoa(cpus[0]), strconv.Itoa(cpus[1]), true
		}
	}
	return "", "", false
}

// cpuList expands the kernel's CPU list format ("0-3,8,10-11") into at most
// limit CPU numbers; a malformed part ends the list.
func cpuList(s string, limit int) []int {
	var cpus []int
	for part := range strings.SplitSeq(s, ",") {
		lo, hi, isRange := strings.Cut(part, "-")
		a, err := strconv.Atoi(lo)
		if err != nil {
			return cpus
		}
		b := a
		if isRange {
			if b, err = strconv.Atoi(hi); err != nil || b < a {
				return cpus
			}
		}
		for c := a; c <= b && len(cpus) < limit; c++ {
			cpus = append(cpus, c)
		}
		if len(cpus) >= limit {
			break
		}
	}
	return cpus
}

// Start runs bin with args in its own process group, killed with the
// group when stop is called or the parent dies.
func Start(ctx context.Context, bin string, args ...string) (stop func(), err error) {
	_, stop, err = StartEnv(ctx, nil, bin, args...)
	return stop, err
}

// StartEnv is Start with env ("K=V") added to the environment; it also
// returns the process ID.
func StartEnv(ctx context.Context, env []string, bin string, args ...string) (pid int, stop func(), err error) {
	cmd := exec.CommandContext(ctx, bin, args...)
	if len(env) > 0 {
		cmd.Env = append(os.Environ(), env...)
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return 0, nil, fmt.Errorf("start %s: %w", bin, err)
	}
	return cmd.Process.Pid, func() { _ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL); _ = cmd.Wait() }, nil
}

// CPUTime is the CPU time (user and system) process pid has used so far,
// from /proc (Linux); 0 if it cannot be read.
func CPUTime(pid int) time.Duration {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0
	}
	// Fields after the command name (which may hold spaces, in parentheses):
	// state is field 3, utime and stime are fields 14 and 15, in clock ticks
	// (USER_HZ, 100 on Linux).
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0
	}
	u, err1 := strconv.ParseUint(f[11], 10, 64)
	s, err2 := strconv.ParseUint(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0
	}
	return time.Duration(u+s) * (time.Second / 100)
}

// WaitUp calls check every 100 ms until it succeeds, for at most 10 s.
func WaitUp(ctx context.Context, check func() error) error {
	var err error
	for range 100 {
		if err = check(); err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	return fmt.Errorf("not up within 10s: %w", err)
}

// FreePort returns a port free for both UDP and TCP on 127.0.0.1, 0 if none
// was found in a few tries.
func FreePort() int {
	for range 20 {
		l, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			return 0
		}
		port := l.LocalAddr().(*net.UDPAddr).Port
		t, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		l.Close()
		if err == nil {
			t.Close()
			return port
		}
	}
	return 0
}

// Median is the median of v (not modified).
func Median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s) == 0 {
		return 0
	}
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// Rounds formats the rounds' figures: "1200 1350 1290".
func Rounds(v []float64) string {
	s := make([]string, len(v))
	for i, x := range v {
		s[i] = strconv.FormatFloat(x, 'f', 0, 64)
	}
	return strings.Join(s, " ")
}
