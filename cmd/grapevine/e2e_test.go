package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/grapevine-sd/grapevine/api"
	"github.com/grapevine-sd/grapevine/internal/testaddr"
)

// The end-to-end test runs real `grapevine agent` processes on loopback:
// gossip over UDP and TCP, the HTTP API, a crash (SIGKILL), lease expiry, a
// restart from the data directory, and a graceful shutdown (SIGTERM, exit 0).

// e2eConfig shortens leases so a crash is withdrawn within seconds (10 s of
// grace: the test must see the record stale in between, also on a loaded
// machine), and turns self-preservation off (one of three agents failing is 33%, above the 30%
// default that would otherwise keep its records).
const e2eConfig = e2eGossip + `
leases:
  grace: 10s
  mass_failure_fraction: 1.0
`

// e2eGossip speeds up anti-entropy and rejoin for tests with real processes.
const e2eGossip = `
log_level: debug
gossip:
  sync_interval: 500ms
  push_pull_interval: 2s
  rejoin_interval: 1s
`

// e2eAgent is one agent process and the addresses it owns across restarts.
// An address left empty is port 0 at the first start: the kernel picks a
// free port while the agent binds it (never a port chosen by the test and
// bound later, which another program may take in between), and start reads
// the address from the agent's log; a restart reuses it.
type e2eAgent struct {
	name, gossip, http, dns, dataDir string
	extra                            []string // further flags
	cmd                              *exec.Cmd
	log                              *syncBuffer
	exited                           chan error
}

// syncBuffer is a bytes.Buffer safe for a process's writes and the test's reads.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// buildBinary builds grapevine once into dir.
func buildBinary(t *testing.T, dir string) string {
	t.Helper()
	bin := filepath.Join(dir, "grapevine")
	cmd := exec.Command("go", "build", "-o", bin, ".")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// writeAgentConfig writes a fresh gossip keyring file (as `grapevine keygen >
// FILE` would) and an agent config in dir that uses it (encrypt_file), and
// returns the config's path: real agents refuse to start without a key.
func writeAgentConfig(t *testing.T, dir, body string) string {
	t.Helper()
	k := make([]byte, 32)
	if _, err := rand.Read(k); err != nil {
		t.Fatal(err)
	}
	keyFile := filepath.Join(dir, "gossip.key")
	if err := os.WriteFile(keyFile, []byte(base64.StdEncoding.EncodeToString(k)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	config := filepath.Join(dir, "agent.yaml")
	if err := os.WriteFile(config, []byte(body+"\nencrypt_file: "+keyFile+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return config
}

// start runs the agent process and waits until it has started (its
// listeners bound, their addresses learnt); t.Cleanup kills it if it still
// runs.
func (a *e2eAgent) start(t *testing.T, bin, config string, join []string) {
	t.Helper()
	or0 := func(addr string) string {
		if addr == "" {
			return "127.0.0.1:0"
		}
		return addr
	}
	args := []string{"agent", "-config", config, "-node", a.name, "-bind", or0(a.gossip), "-http", or0(a.http), "-dns", or0(a.dns), "-data-dir", a.dataDir}
	for _, j := range join {
		args = append(args, "-join", j)
	}
	a.cmd = exec.Command(bin, append(args, a.extra...)...)
	a.log = &syncBuffer{}
	a.cmd.Stdout, a.cmd.Stderr = a.log, a.log
	if err := a.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	a.exited = make(chan error, 1)
	go func(cmd *exec.Cmd, ch chan error) { ch <- cmd.Wait() }(a.cmd, a.exited)
	cmd, exited, log := a.cmd, a.exited, a.log
	t.Cleanup(func() {
		select {
		case <-exited:
		default:
			cmd.Process.Kill()
			<-exited
		}
		if t.Failed() {
			t.Logf("--- log of %s (pid %d) ---\n%s", a.name, cmd.Process.Pid, log.String())
		}
	})
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(log.String(), "agent started") {
		select {
		case err := <-exited:
			exited <- err // for Cleanup
			t.Fatalf("%s exited while starting: %v\n%s", a.name, err, log.String())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not started within 30s:\n%s", a.name, log.String())
		}
	}
	a.gossip = listenAddr(t, log.String(), "gossip listening", a.gossip)
	a.http = listenAddr(t, log.String(), "http api listening", a.http)
	a.dns = listenAddr(t, log.String(), "dns listening", a.dns)
}

// listenAddr is the address an agent's log reports after what ("http api
// listening addr=127.0.0.1:41234"), or old when it is already known.
func listenAddr(t *testing.T, log, what, old string) string {
	t.Helper()
	if old != "" {
		return old
	}
	m := regexp.MustCompile(regexp.QuoteMeta(what) + `.*?\baddr=(\S+)`).FindStringSubmatch(log)
	if m == nil {
		t.Fatalf("no %q line with an address in the log:\n%s", what, log)
	}
	return m[1]
}

// stop sends sig and waits for the exit.
func (a *e2eAgent) stop(t *testing.T, sig os.Signal) error {
	t.Helper()
	if err := a.cmd.Process.Signal(sig); err != nil {
		t.Fatalf("signal %s: %v", a.name, err)
	}
	select {
	case err := <-a.exited:
		a.exited <- err // for Cleanup
		return err
	case <-time.After(15 * time.Second):
		t.Fatalf("%s did not exit within 15s of %v", a.name, sig)
		return nil
	}
}

// poll waits for cond, checking every 100 ms, failing after timeout with
// what cond last said.
func poll(t *testing.T, timeout time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ok, why := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v: %s", what, timeout, why)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func lookupAny(ctx context.Context, c *api.Client) ([]api.Instance, error) {
	insts, _, err := c.Service(ctx, "web", api.QueryOptions{Health: api.HealthAny})
	return insts, err
}

func byNode(insts []api.Instance, node string) (api.Instance, bool) {
	for _, in := range insts {
		if in.Node == node {
			return in, true
		}
	}
	return api.Instance{}, false
}

func nodesOf(insts []api.Instance) []string {
	var out []string
	for _, in := range insts {
		out = append(out, fmt.Sprintf("%s(stale=%v)", in.Node, in.Stale))
	}
	return out
}

func TestEndToEndCrashAndRestart(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test builds and runs agent processes")
	}
	began := time.Now()
	dir := t.TempDir()
	bin := buildBinary(t, dir)
	config := writeAgentConfig(t, dir, e2eConfig)
	var agents []*e2eAgent
	for _, name := range []string{"a", "b", "c"} {
		ag := &e2eAgent{name: "node-" + name, dataDir: filepath.Join(dir, name)}
		agents = append(agents, ag)
	}
	A, B, C := agents[0], agents[1], agents[2]
	A.start(t, bin, config, nil)
	B.start(t, bin, config, []string{A.gossip})
	C.start(t, bin, config, []string{A.gossip, B.gossip})

	clients := map[string]*api.Client{}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	t.Cleanup(tr.CloseIdleConnections)
	for _, ag := range agents {
		c, err := api.NewClient(api.ClientConfig{Address: ag.http, HTTPClient: &http.Client{Transport: tr}, Timeout: 2 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		clients[ag.name] = c
	}
	ctx := t.Context()
	cb := clients[B.name]
	poll(t, 15*time.Second, "cluster formed", func() (bool, string) {
		s, err := cb.Self(ctx)
		if err != nil {
			return false, err.Error()
		}
		return s.Members.Alive == 3, fmt.Sprintf("node-b sees %+v", s.Members)
	})

	// The same service on A and C, so lookups at B are never empty.
	var regA api.Instance
	poll(t, 15*time.Second, "register on A and C", func() (bool, string) {
		var err error
		if regA, err = clients[A.name].Register(ctx, api.Registration{ID: "web-a", Name: "web", Port: 8080}); err != nil {
			return false, err.Error()
		}
		if _, err = clients[C.name].Register(ctx, api.Registration{ID: "web-c", Name: "web", Port: 8080}); err != nil {
			return false, err.Error()
		}
		return true, ""
	})
	poll(t, 15*time.Second, "A's and C's instances at B", func() (bool, string) {
		insts, _, err := cb.Service(ctx, "web", api.QueryOptions{})
		if err != nil {
			return false, err.Error()
		}
		return len(insts) == 2 && insts[0].Node == A.name && insts[1].Node == C.name && !insts[0].Stale, fmt.Sprint(nodesOf(insts))
	})

	// The CLI against B.
	var out, errb bytes.Buffer
	if code := run([]string{"grapevine", "lookup", "web", "-json", "-http", B.http}, &out, &errb); code != exitOK {
		t.Fatalf("grapevine lookup: exit %d, stderr %s", code, errb.String())
	}
	var cliInsts []api.Instance
	if err := json.Unmarshal(out.Bytes(), &cliInsts); err != nil || len(cliInsts) != 2 {
		t.Fatalf("grapevine lookup -json: %v, %s", err, out.String())
	}

	// Crash A: at B its instance turns stale (served, flagged, with an age),
	// then leaves the default lookup once the grace has passed.
	t.Logf("killing node-a at %v", time.Since(began).Round(time.Millisecond))
	killed := time.Now()
	if err := A.stop(t, syscall.SIGKILL); err == nil {
		t.Fatal("SIGKILL: exit status 0")
	}
	// A comes back on its gossip address: keep it bound meanwhile, so that
	// no other socket of the machine takes the port while A is down.
	releaseA := testaddr.Hold(t, A.gossip)
	var staleAt time.Duration
	poll(t, 15*time.Second, "A's instance stale at B", func() (bool, string) {
		insts, _, err := cb.Service(ctx, "web", api.QueryOptions{})
		if err != nil {
			return false, err.Error()
		}
		in, ok := byNode(insts, A.name)
		if ok && in.Stale && in.AgeMillis > 0 {
			staleAt = time.Since(killed)
			return true, ""
		}
		if !ok {
			return false, fmt.Sprintf("A's instance gone before it was seen stale: %v", nodesOf(insts))
		}
		return false, fmt.Sprintf("A's instance %+v", in)
	})
	poll(t, 30*time.Second, "A's instance gone from B's default lookup", func() (bool, string) {
		insts, _, err := cb.Service(ctx, "web", api.QueryOptions{})
		if err != nil {
			return false, err.Error()
		}
		return len(insts) == 1 && insts[0].Node == C.name && !insts[0].Stale, fmt.Sprint(nodesOf(insts))
	})
	t.Logf("after the crash: stale at B after %v, withdrawn after %v", staleAt.Round(time.Millisecond), time.Since(killed).Round(time.Millisecond))

	// Restart A with the same data directory: its registration comes back at
	// B under a new epoch. Same gossip address (peers take a member back
	// under a new one only after about a minute, docs/hazards.md), fresh
	// HTTP and DNS ports (the old ones may have been taken meanwhile).
	A.http, A.dns = "", ""
	releaseA()
	A.start(t, bin, config, []string{B.gossip, C.gossip})
	restarted := time.Now()
	poll(t, 15*time.Second, "A's instance back at B", func() (bool, string) {
		insts, err := lookupAny(ctx, cb)
		if err != nil {
			return false, err.Error()
		}
		in, ok := byNode(insts, A.name)
		if !ok || in.Stale || in.Health != api.HealthPassing || in.Version.Epoch <= regA.Version.Epoch {
			return false, fmt.Sprintf("A's instance %+v (old epoch %d)", in, regA.Version.Epoch)
		}
		return in.ID == "web-a" && in.Port == 8080, fmt.Sprintf("A's instance %+v", in)
	})
	t.Logf("restarted node-a's instance back at B after %v", time.Since(restarted).Round(time.Millisecond))
	poll(t, 15*time.Second, "B's default lookup has A and C", func() (bool, string) {
		insts, _, err := cb.Service(ctx, "web", api.QueryOptions{})
		if err != nil {
			return false, err.Error()
		}
		return slices.Equal(nodesOf(insts), []string{A.name + "(stale=false)", C.name + "(stale=false)"}), fmt.Sprint(nodesOf(insts))
	})

	// Graceful shutdown: SIGTERM, exit 0, everywhere.
	for _, ag := range []*e2eAgent{A, B, C} {
		if err := ag.stop(t, syscall.SIGTERM); err != nil {
			t.Errorf("%s: after SIGTERM: %v, want exit 0", ag.name, err)
		}
	}
	t.Logf("end-to-end took %v", time.Since(began).Round(time.Millisecond))
}
