// Command benchcluster measures a cluster of real grapevine agent processes on
// loopback: it starts N agents (gossip encrypted), waits until every agent sees
// every other, then makes K changes of each kind (register, health flip,
// deregister) at rotating agents and measures, per change, the time from the
// write to the change event (SSE) at every agent, the write's acknowledgement,
// CPU seconds and gossip messages and bytes summed over agents (idle baseline
// subtracted), and each agent's RSS. It prints a table, writes a CSV of the
// per-change rows, and, where the `serf` program is installed, measures a Serf
// user event to N encrypted Serf agents in the same run as the reference.
//
// Every process it starts is in its own process group and is killed on exit,
// on SIGINT/SIGTERM, and on error. `make bench-cluster` runs it (N=100 works on
// 2 cores).
package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/grapevine-sd/grapevine/api"
	"github.com/grapevine-sd/grapevine/internal/benchproc"
)

type config struct {
	n        int
	k        int
	bin      string
	csv      string
	serf     bool
	gap      time.Duration
	settle   time.Duration
	timeout  time.Duration
	logLevel string
}

func main() {
	var cfg config
	flag.IntVar(&cfg.n, "n", 30, "number of agent processes")
	flag.IntVar(&cfg.k, "k", 20, "changes of each kind (register, health flip, deregister)")
	flag.StringVar(&cfg.bin, "bin", "bin/grapevine", "grapevine binary")
	flag.StringVar(&cfg.csv, "csv", "bench-cluster.csv", "per-change CSV output (\"\" for none)")
	flag.BoolVar(&cfg.serf, "serf", true, "also measure Serf user events when `serf` is installed")
	flag.DurationVar(&cfg.gap, "gap", 100*time.Millisecond, "pause between changes")
	flag.DurationVar(&cfg.settle, "settle", 5*time.Second, "wait after membership, and each of the two idle windows measured for the CPU/traffic baseline")
	flag.DurationVar(&cfg.timeout, "timeout", 10*time.Minute, "bound on the whole run")
	flag.StringVar(&cfg.logLevel, "log-level", "warn", "agents' log level")
	flag.Parse()
	if cfg.n < 2 || cfg.n > 500 || cfg.k < 1 || cfg.k > 1000 {
		fmt.Fprintln(os.Stderr, "benchcluster: -n must be 2..500 and -k 1..1000")
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, cfg.timeout)
	defer cancel()
	if err := run(ctx, cfg, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "benchcluster:", err)
		os.Exit(1)
	}
}

// procs owns the started processes; kill stops every process group.
type procs struct {
	mu   sync.Mutex
	cmds []*exec.Cmd
}

func (p *procs) start(cmd *exec.Cmd) error {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return err
	}
	p.mu.Lock()
	p.cmds = append(p.cmds, cmd)
	p.mu.Unlock()
	return nil
}

func (p *procs) kill() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.cmds {
		_ = syscall.Kill(-c.Process.Pid, syscall.SIGKILL)
	}
	for _, c := range p.cmds {
		_ = c.Wait()
	}
	p.cmds = nil
}

// reaped forgets a process already waited for (waitUp): its process ID, and
// so its group's, may belong to another process by the time kill runs.
func (p *procs) reaped(pid int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cmds = slices.DeleteFunc(p.cmds, func(c *exec.Cmd) bool { return c.Process.Pid == pid })
}

type agentProc struct {
	name   string
	gossip string
	http   string
	pid    int
	client *api.Client
}

// change is one measured write.
type change struct {
	kind    string
	origin  int
	id      string
	ack     time.Duration
	seen    []time.Duration // per agent; -1 when not seen before the deadline
	written time.Time
}

func run(ctx context.Context, cfg config, out io.Writer) error {
	if _, err := os.Stat(cfg.bin); err != nil {
		return fmt.Errorf("binary %s: %w (run `make build` first)", cfg.bin, err)
	}
	dir, err := os.MkdirTemp("", "benchcluster-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	ps := &procs{}
	defer ps.kill()

	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return err
	}
	keyB64 := base64.StdEncoding.EncodeToString(key)
	keyFile := filepath.Join(dir, "gossip.key")
	if err := os.WriteFile(keyFile, []byte(keyB64+"\n"), 0o600); err != nil {
		return err
	}

	fmt.Fprintf(out, "starting %d agents (gossip encrypted) ...\n", cfg.n)
	agents, err := startAgents(ctx, cfg, dir, keyFile, keyB64, ps)
	if err != nil {
		return err
	}
	t0 := time.Now()
	if err := waitMembership(ctx, agents); err != nil {
		return err
	}
	fmt.Fprintf(out, "full membership at every agent after %v\n", time.Since(t0).Round(time.Millisecond))

	events := make([]chan seenEvent, len(agents))
	var wg sync.WaitGroup
	sctx, scancel := context.WithCancel(ctx)
	defer func() { scancel(); wg.Wait() }()
	for i, a := range agents {
		events[i] = make(chan seenEvent, 4096)
		wg.Add(1)
		go func() {
			defer wg.Done()
			watch(sctx, a.client, events[i])
		}()
	}
	// Every stream starts with a reset event; wait for all of them.
	for i := range agents {
		if err := waitReset(ctx, events[i]); err != nil {
			return fmt.Errorf("agent %s: stream: %w", agents[i].name, err)
		}
	}

	pids := make([]int, len(agents))
	for i, a := range agents {
		pids[i] = a.pid
	}
	// The idle rates are measured in two windows, before the changes (once
	// the join traffic has ended) and after them, and subtracted from the
	// changes' window scaled to its length: timers (probes, gossip,
	// anti-entropy, push/pull every 10–30 s) fall unevenly in a short window.
	if err := sleepCtx(ctx, cfg.settle); err != nil {
		return err
	}
	pre0 := sample(ctx, agents, pids)
	if err := sleepCtx(ctx, cfg.settle); err != nil {
		return err
	}
	pre1 := sample(ctx, agents, pids)

	var changes []change
	for round := range cfg.k {
		origin := round % len(agents)
		id := fmt.Sprintf("bench-%d", round)
		for _, kind := range []string{"register", "health", "deregister"} {
			c, err := makeChange(ctx, agents, events, kind, origin, id)
			if err != nil {
				return err
			}
			changes = append(changes, c)
			if err := sleepCtx(ctx, cfg.gap); err != nil {
				return err
			}
		}
	}
	// The last changes' piggyback retransmits belong to the changes.
	if err := sleepCtx(ctx, time.Second); err != nil {
		return err
	}
	end := sample(ctx, agents, pids)
	if err := sleepCtx(ctx, cfg.settle); err != nil {
		return err
	}
	post := sample(ctx, agents, pids)

	rep := report{n: cfg.n, changes: changes}
	idle := used(pre0, pre1).plus(used(end, post))
	work := used(pre1, end)
	scale := work.secs / idle.secs
	nc := float64(len(changes))
	rep.cpuPerChange = (work.cpu - idle.cpu*scale) / nc
	rep.pktsPerChange = (work.msgs - idle.msgs*scale) / nc
	rep.bytesPerChange = (work.bytes - idle.bytes*scale) / nc
	rep.udpPerChange = (work.pkts - idle.pkts*scale) / nc
	rep.selfCPU = (end.self - pre1.self) / nc
	rep.idleCPU = idle.cpu / idle.secs
	rep.idleBytes, rep.idlePkts = idle.bytes/idle.secs, idle.pkts/idle.secs
	rep.rss = end.rss

	if cfg.serf {
		if path, err := exec.LookPath("serf"); err == nil {
			fmt.Fprintf(out, "reference: %d Serf agents (encrypted) ...\n", cfg.n)
			lat, err := benchSerf(ctx, path, cfg, dir, keyB64, ps)
			if err != nil {
				fmt.Fprintf(out, "serf reference failed: %v\n", err)
			}
			rep.serf = lat
		} else {
			rep.serfSkip = "serf not installed (make deps-bench installs it)"
		}
	}
	rep.print(out)
	if cfg.csv != "" {
		if err := rep.writeCSV(cfg.csv); err != nil {
			return err
		}
		fmt.Fprintf(out, "\nper-change rows: %s\n", cfg.csv)
	}
	return nil
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// freePortAt returns a port free for both TCP and UDP on ip.
func freePortAt(ip string) (int, error) {
	for range 50 {
		l, err := net.Listen("tcp", net.JoinHostPort(ip, "0"))
		if err != nil {
			return 0, err
		}
		port := l.Addr().(*net.TCPAddr).Port
		u, err := net.ListenPacket("udp", net.JoinHostPort(ip, strconv.Itoa(port)))
		l.Close()
		if err != nil {
			continue
		}
		u.Close()
		return port, nil
	}
	return 0, errors.New("no free port")
}

func startAgents(ctx context.Context, cfg config, dir, keyFile, keyB64 string, ps *procs) ([]*agentProc, error) {
	gossipFlags := gossipKeyFlags(cfg.bin, keyFile, keyB64)
	agents := make([]*agentProc, cfg.n)
	for i := range agents {
		// Each agent on its own loopback address, as hosts are: per-source
		// limits (stream caps, rate limits) then apply per agent.
		ip := fmt.Sprintf("127.0.%d.%d", 1+i/250, 1+i%250)
		var err error
		for attempt := 1; ; attempt++ {
			agents[i], err = startAgent(ctx, cfg, dir, ip, i, agents, gossipFlags, ps)
			var exited *exitedError
			if err == nil || !errors.As(err, &exited) || attempt == 3 {
				break
			}
			// A port freePortAt found free was taken before the agent bound
			// it (ports are picked, then bound by another process): new ports.
			fmt.Fprintf(os.Stderr, "benchcluster: %v; starting it again on new ports\n", err)
		}
		if err != nil {
			return nil, err
		}
	}
	return agents, nil
}

// startAgent starts agent i on ip with ports free at the time, joined to the
// first and the previous agent, and waits until its HTTP API answers.
func startAgent(ctx context.Context, cfg config, dir, ip string, i int, agents []*agentProc, gossipFlags []string, ps *procs) (*agentProc, error) {
	gp, err := freePortAt(ip)
	if err != nil {
		return nil, err
	}
	hp := gp
	for hp == gp { // a port just closed may be handed out again at once
		if hp, err = freePortAt(ip); err != nil {
			return nil, err
		}
	}
	a := &agentProc{
		name:   fmt.Sprintf("a%03d", i),
		gossip: fmt.Sprintf("%s:%d", ip, gp),
		http:   fmt.Sprintf("%s:%d", ip, hp),
	}
	ddir := filepath.Join(dir, a.name)
	if err := os.RemoveAll(ddir); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(ddir, 0o700); err != nil {
		return nil, err
	}
	args := []string{"agent", "-node", a.name, "-bind", a.gossip, "-advertise", a.gossip,
		"-http", a.http, "-dns", "", "-data-dir", ddir, "-log-level", cfg.logLevel}
	args = append(args, gossipFlags...)
	if i > 0 {
		args = append(args, "-join", agents[0].gossip)
		if i > 1 {
			args = append(args, "-join", agents[i-1].gossip)
		}
	}
	logPath := filepath.Join(dir, a.name+".log")
	logf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, cfg.bin, args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := ps.start(cmd); err != nil {
		logf.Close()
		return nil, fmt.Errorf("start %s: %w", a.name, err)
	}
	logf.Close()
	a.pid = cmd.Process.Pid
	a.client, err = api.NewClient(api.ClientConfig{Address: "http://" + a.http, Timeout: 10 * time.Second})
	if err != nil {
		return nil, err
	}
	return a, waitUp(ctx, a, logPath, ps)
}

// exitedError is an agent that exited while starting.
type exitedError struct{ name, why string }

func (e *exitedError) Error() string { return "agent " + e.name + " exited while starting: " + e.why }

// waitUp waits until a just-started agent answers on its HTTP API. An agent
// that exits first is reaped and reported with the end of its log.
func waitUp(ctx context.Context, a *agentProc, logPath string, ps *procs) error {
	deadline := time.Now().Add(30 * time.Second)
	for {
		var ws syscall.WaitStatus
		if pid, _ := syscall.Wait4(a.pid, &ws, syscall.WNOHANG, nil); pid == a.pid {
			ps.reaped(a.pid)
			b, _ := os.ReadFile(logPath)
			if len(b) > 600 {
				b = b[len(b)-600:]
			}
			return &exitedError{name: a.name, why: fmt.Sprintf("exit status %d: %s", ws.ExitStatus(), strings.TrimSpace(string(b)))}
		}
		rctx, cancel := context.WithTimeout(ctx, time.Second)
		_, err := a.client.Members(rctx)
		cancel()
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("agent %s: HTTP API not answering within 30s: %w", a.name, err)
		}
		if err := sleepCtx(ctx, 20*time.Millisecond); err != nil {
			return err
		}
	}
}

// gossipKeyFlags picks how to hand the key to the binary: the keyring file when
// the agent knows -encrypt-file, else -encrypt.
func gossipKeyFlags(bin, keyFile, keyB64 string) []string {
	help, _ := exec.Command(bin, "agent", "-h").CombinedOutput()
	if strings.Contains(string(help), "encrypt-file") {
		return []string{"-encrypt-file", keyFile}
	}
	return []string{"-encrypt", keyB64}
}

func waitMembership(ctx context.Context, agents []*agentProc) error {
	deadline := time.Now().Add(3 * time.Minute)
	for i := 0; i < len(agents); {
		rctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		ms, err := agents[i].client.Members(rctx)
		cancel()
		if ctx.Err() != nil {
			return ctx.Err()
		}
		alive := 0
		seen := make(map[string]bool, len(ms))
		for _, m := range ms {
			if m.Status == "alive" {
				alive++
				seen[m.Name] = true
			}
		}
		if time.Now().After(deadline) {
			var missing []string
			for _, a := range agents {
				if !seen[a.name] {
					missing = append(missing, a.name)
				}
			}
			return fmt.Errorf("agent %s did not see all %d members within 3m (err %v; not alive in its view: %v)", agents[i].name, len(agents), err, missing)
		}
		if err == nil && alive == len(agents) {
			i++
			continue
		}
		if err := sleepCtx(ctx, 200*time.Millisecond); err != nil {
			return err
		}
	}
	return nil
}

type seenEvent struct {
	at     time.Time
	typ    api.EventType
	id     string
	node   string
	health api.Health
	err    error
}

// watch follows the stream of the bench service at one agent, reconnecting
// from the last index until ctx ends.
func watch(ctx context.Context, c *api.Client, ch chan<- seenEvent) {
	var from uint64
	for ctx.Err() == nil {
		for ev, err := range c.Stream(ctx, "bench", from) {
			now := time.Now()
			if err != nil {
				if ctx.Err() == nil {
					select {
					case ch <- seenEvent{at: now, err: err}:
					default:
					}
				}
				break
			}
			from = ev.Index
			switch ev.Type {
			case api.EventReset:
				ch <- seenEvent{at: now, typ: ev.Type}
				for _, in := range ev.Instances {
					ch <- seenEvent{at: now, typ: api.EventUpsert, id: in.ID, node: in.Node, health: in.Health}
				}
			default:
				se := seenEvent{at: now, typ: ev.Type}
				if ev.Instance != nil {
					se.id, se.node, se.health = ev.Instance.ID, ev.Instance.Node, ev.Instance.Health
				}
				ch <- se
			}
		}
		_ = sleepCtx(ctx, 100*time.Millisecond)
	}
}

func waitReset(ctx context.Context, ch <-chan seenEvent) error {
	t := time.NewTimer(30 * time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
			return errors.New("no reset event within 30s")
		case ev := <-ch:
			if ev.typ == api.EventReset {
				return nil
			}
		}
	}
}

func makeChange(ctx context.Context, agents []*agentProc, events []chan seenEvent, kind string, origin int, id string) (change, error) {
	a := agents[origin]
	c := change{kind: kind, origin: origin, id: id, seen: make([]time.Duration, len(agents))}
	want := func(ev seenEvent) bool {
		if ev.id != id || ev.node != a.name {
			return false
		}
		switch kind {
		case "register":
			return ev.typ == api.EventUpsert && ev.health == api.HealthPassing
		case "health":
			return ev.typ == api.EventUpsert && ev.health == api.HealthMaintenance
		default:
			return ev.typ == api.EventDelete
		}
	}
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	c.written = time.Now()
	var err error
	switch kind {
	case "register":
		_, err = a.client.Register(wctx, api.Registration{ID: id, Name: "bench", Port: 9000, Tags: []string{"bench"}})
	case "health":
		err = a.client.Maintenance(wctx, id, true, "bench")
	default:
		err = a.client.Deregister(wctx, id)
	}
	c.ack = time.Since(c.written)
	if err != nil {
		return c, fmt.Errorf("%s %s at %s: %w", kind, id, a.name, err)
	}
	var wg sync.WaitGroup
	for i := range agents {
		c.seen[i] = -1
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-wctx.Done():
					return
				case ev := <-events[i]:
					if want(ev) {
						c.seen[i] = ev.at.Sub(c.written)
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	return c, ctx.Err()
}

// sample is the summed resource use of the agents at one moment.
type sampleT struct {
	at    time.Time
	cpu   float64 // seconds, user+system
	msgs  float64 // gossip messages sent
	bytes float64 // gossip bytes sent
	pkts  float64 // UDP packets sent on the gossip ports (memberlist's included)
	self  float64 // this program's CPU seconds (its stream readers)
	rss   []float64
}

func sample(ctx context.Context, agents []*agentProc, pids []int) sampleT {
	s := sampleT{at: time.Now(), self: benchproc.CPUTime(os.Getpid()).Seconds()}
	for i, a := range agents {
		s.cpu += benchproc.CPUTime(pids[i]).Seconds()
		s.rss = append(s.rss, procRSS(pids[i]))
		m, b, p := gossipOut(ctx, a.http)
		s.msgs += m
		s.bytes += b
		s.pkts += p
	}
	return s
}

// usage is what the agents used between two samples.
type usage struct {
	secs                   float64 // wall-clock length of the window
	cpu, msgs, bytes, pkts float64
}

func used(a, b sampleT) usage {
	return usage{b.at.Sub(a.at).Seconds(), b.cpu - a.cpu, b.msgs - a.msgs, b.bytes - a.bytes, b.pkts - a.pkts}
}

func (u usage) plus(v usage) usage {
	return usage{u.secs + v.secs, u.cpu + v.cpu, u.msgs + v.msgs, u.bytes + v.bytes, u.pkts + v.pkts}
}

func procRSS(pid int) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 64)
			return kb * 1024
		}
	}
	return 0
}

// gossipOut sums grapevine_gossip_messages_total, _bytes_total and
// _udp_packets_total with direction="sent" from the agent's /metrics.
func gossipOut(ctx context.Context, addr string) (msgs, bytes, pkts float64) {
	rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(rctx, http.MethodGet, "http://"+addr+"/metrics", nil)
	if err != nil {
		return 0, 0, 0
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, 0, 0
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.Contains(line, `direction="sent"`) {
			continue
		}
		f := strings.Fields(line)
		v, err := strconv.ParseFloat(f[len(f)-1], 64)
		if err != nil {
			continue
		}
		switch {
		case strings.HasPrefix(line, "grapevine_gossip_messages_total{"):
			msgs += v
		case strings.HasPrefix(line, "grapevine_gossip_bytes_total{"):
			bytes += v
		case strings.HasPrefix(line, "grapevine_gossip_udp_packets_total{"):
			pkts += v
		}
	}
	return msgs, bytes, pkts
}

type report struct {
	n              int
	changes        []change
	cpuPerChange   float64
	pktsPerChange  float64
	bytesPerChange float64
	udpPerChange   float64 // UDP packets on the gossip ports, memberlist's included
	selfCPU        float64 // this program's CPU per change (its stream readers), not subtracted
	idleCPU        float64
	// idleBytes and idlePkts: gossip message bytes and UDP packets sent per
	// second by all agents together while nothing changes (anti-entropy,
	// probes).
	idleBytes, idlePkts float64
	rss                 []float64
	serf                []time.Duration
	serfSkip            string
}

func pct(d []time.Duration, p float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := slices.Clone(d)
	slices.Sort(s)
	i := int(p * float64(len(s)-1))
	return s[i]
}

func ms(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d)/1e6) }

func (r report) print(out io.Writer) {
	fmt.Fprintf(out, "\n== grapevine, %d real agents on loopback (gossip encrypted)\n", r.n)
	w := tabwriter.NewWriter(out, 2, 4, 2, ' ', 0)
	fmt.Fprintln(w, "change\tcount\tall agents p50\tp99\tmax\tmissed\tack p50\tack p99\t")
	kinds := []string{"register", "health", "deregister", "all"}
	for _, k := range kinds {
		var all, acks []time.Duration
		count, missed := 0, 0
		for _, c := range r.changes {
			if k != "all" && c.kind != k {
				continue
			}
			count++
			acks = append(acks, c.ack)
			var last time.Duration
			for _, s := range c.seen {
				if s < 0 {
					missed++
					continue
				}
				last = max(last, s)
			}
			all = append(all, last)
		}
		fmt.Fprintf(w, "%s\t%d\t%s\t%s\t%s\t%d\t%s\t%s\t\n", k, count, ms(pct(all, 0.5)), ms(pct(all, 0.99)), ms(pct(all, 1)), missed, ms(pct(acks, 0.5)), ms(pct(acks, 0.99)))
	}
	w.Flush()
	slices.Sort(r.rss)
	fmt.Fprintf(out, "\nper change, summed over agents (idle baseline subtracted): CPU %.1f ms (%.0f µs per agent), gossip %.0f messages, %.1f KiB, %.0f UDP packets sent\n",
		r.cpuPerChange*1e3, r.cpuPerChange*1e6/float64(r.n), r.pktsPerChange, r.bytesPerChange/1024, r.udpPerChange)
	fmt.Fprintf(out, "this benchmark's own CPU per change (its %d event streams): %.1f ms\n", r.n, r.selfCPU*1e3)
	fmt.Fprintf(out, "idle CPU, all agents together: %.1f%% of one core\n", r.idleCPU*100)
	fmt.Fprintf(out, "idle traffic per agent: %.0f B/s of gossip messages, %.1f UDP packets/s\n", r.idleBytes/float64(r.n), r.idlePkts/float64(r.n))
	if len(r.rss) > 0 {
		fmt.Fprintf(out, "RSS per agent: p50 %.1f MiB, max %.1f MiB\n", r.rss[len(r.rss)/2]/(1<<20), r.rss[len(r.rss)-1]/(1<<20))
	}
	switch {
	case len(r.serf) > 0:
		fmt.Fprintf(out, "\n== reference, same run: Serf user event to all of %d encrypted Serf agents\n", r.n)
		fmt.Fprintf(out, "p50 %s  p99 %s  max %s  (%d events)\n", ms(pct(r.serf, .5)), ms(pct(r.serf, .99)), ms(pct(r.serf, 1)), len(r.serf))
	case r.serfSkip != "":
		fmt.Fprintf(out, "\nreference skipped: %s\n", r.serfSkip)
	}
}

func (r report) writeCSV(path string) error {
	var b strings.Builder
	b.WriteString("kind,origin,id,ack_ms,all_ms,missed\n")
	for _, c := range r.changes {
		var last time.Duration
		missed := 0
		for _, s := range c.seen {
			if s < 0 {
				missed++
				continue
			}
			last = max(last, s)
		}
		fmt.Fprintf(&b, "%s,%d,%s,%.3f,%.3f,%d\n", c.kind, c.origin, c.id, float64(c.ack)/1e6, float64(last)/1e6, missed)
	}
	return os.WriteFile(path, []byte(b.String()), 0o644)
}

// benchSerf starts n Serf agents with a 16-byte key, each with a user-event
// handler that appends "payload unix-nanos" to a file, sends k user events
// (uncoalesced) through the first agent's RPC, and returns, per event, the time
// until the last agent's handler ran. The handler's fork/exec is included, as
// it is in any Serf deployment that acts on events.
func benchSerf(ctx context.Context, serf string, cfg config, dir, _ string, ps *procs) ([]time.Duration, error) {
	key := make([]byte, 16)
	if _, err := rand.Read(key); err != nil {
		return nil, err
	}
	k := base64.StdEncoding.EncodeToString(key)
	sdir := filepath.Join(dir, "serf")
	if err := os.MkdirAll(sdir, 0o700); err != nil {
		return nil, err
	}
	handler := filepath.Join(sdir, "handler.sh")
	script := "#!/bin/sh\nread p\necho \"$p $(date +%s%N)\" >> \"" + sdir + "/$1.events\"\n"
	if err := os.WriteFile(handler, []byte(script), 0o755); err != nil {
		return nil, err
	}
	type sa struct{ name, bind, rpc string }
	nodes := make([]sa, cfg.n)
	for i := range nodes {
		// Like the agents: each Serf agent on its own loopback address.
		ip := fmt.Sprintf("127.1.%d.%d", 1+i/250, 1+i%250)
		bp, err := freePortAt(ip)
		if err != nil {
			return nil, err
		}
		rp, err := freePortAt(ip)
		if err != nil {
			return nil, err
		}
		nodes[i] = sa{fmt.Sprintf("s%03d", i), fmt.Sprintf("%s:%d", ip, bp), fmt.Sprintf("%s:%d", ip, rp)}
		args := []string{"agent", "-node=" + nodes[i].name, "-bind=" + nodes[i].bind, "-rpc-addr=" + nodes[i].rpc,
			"-encrypt=" + k, "-log-level=warn", "-event-handler=user:bench=" + handler + " " + nodes[i].name}
		if i > 0 {
			// The first agent and the previous one: a chain as well as a star,
			// so no single agent takes every join at once.
			args = append(args, "-retry-join="+nodes[0].bind, "-retry-join="+nodes[i-1].bind, "-retry-interval=1s")
		}
		cmd := exec.CommandContext(ctx, serf, args...)
		logf, err := os.Create(filepath.Join(sdir, nodes[i].name+".log"))
		if err != nil {
			return nil, err
		}
		cmd.Stdout, cmd.Stderr = logf, logf
		err = ps.start(cmd)
		logf.Close()
		if err != nil {
			return nil, err
		}
	}
	deadline := time.Now().Add(5 * time.Minute)
	for i := 0; i < len(nodes); {
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("serf agent %s did not see all members", nodes[i].name)
		}
		out, err := exec.CommandContext(ctx, serf, "members", "-rpc-addr="+nodes[i].rpc, "-status=alive").Output()
		if err == nil && strings.Count(strings.TrimSpace(string(out)), "\n")+1 == len(nodes) {
			i++
			continue
		}
		if err := sleepCtx(ctx, 300*time.Millisecond); err != nil {
			return nil, err
		}
	}
	sent := make([]time.Time, cfg.k)
	for i := range cfg.k {
		sent[i] = time.Now()
		if err := exec.CommandContext(ctx, serf, "event", "-rpc-addr="+nodes[i%len(nodes)].rpc, "-coalesce=false", "bench", strconv.Itoa(i)).Run(); err != nil {
			return nil, fmt.Errorf("serf event: %w", err)
		}
		if err := sleepCtx(ctx, 3*cfg.gap); err != nil {
			return nil, err
		}
	}
	// Give the last events time to arrive everywhere, then read the files.
	last := make([]time.Duration, cfg.k)
	seen := make([]int, cfg.k)
	deadline = time.Now().Add(30 * time.Second)
	for {
		clear(seen)
		clear(last)
		for _, n := range nodes {
			b, _ := os.ReadFile(filepath.Join(sdir, n.name+".events"))
			for line := range strings.SplitSeq(strings.TrimSpace(string(b)), "\n") {
				f := strings.Fields(line)
				if len(f) != 2 {
					continue
				}
				i, err1 := strconv.Atoi(f[0])
				ns, err2 := strconv.ParseInt(f[1], 10, 64)
				if err1 != nil || err2 != nil || i < 0 || i >= cfg.k {
					continue
				}
				seen[i]++
				last[i] = max(last[i], time.Unix(0, ns).Sub(sent[i]))
			}
		}
		if slices.Min(seen) >= len(nodes) || time.Now().After(deadline) {
			break
		}
		if err := sleepCtx(ctx, 500*time.Millisecond); err != nil {
			return nil, err
		}
	}
	var lat []time.Duration
	for i := range cfg.k {
		if seen[i] >= len(nodes) {
			lat = append(lat, last[i])
		}
	}
	return lat, nil
}
