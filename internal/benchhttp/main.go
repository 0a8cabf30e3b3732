// Command benchhttp measures the agent's HTTP lookup throughput beside a
// reference measured in the same run: it starts a real agent process with
// three instances of one service, saves the agent's answer to a file, has
// nginx (one worker) serve the same bytes, and runs wrk against both,
// alternating, several rounds each. It prints requests per second for each and
// the ratio; then the same for a second agent limited to one core
// (GOMAXPROCS=1), as nginx's one worker is. Then, where taskset and two CPUs
// are available, the fair comparison: wrk pinned to one CPU and each server
// (nginx's one worker; an agent at its default settings) pinned alone to the
// other, so both servers get exactly one CPU. Each line says how busy the
// server was (its CPU time over the round's time) and its CPU time per
// request; the pinned part ends with what one fully busy core would answer for
// each, which does not depend on whether wrk kept up. Every server listens on
// 127.0.0.1 only; all are stopped on exit.
//
// `make bench` runs it; it skips with a reason when wrk or nginx is absent
// (`make deps-bench` installs them).
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"strconv"
	"syscall"
	"time"

	"github.com/grapevine-sd/grapevine/api"
	"github.com/grapevine-sd/grapevine/internal/benchproc"
)

func main() {
	bin := flag.String("bin", "bin/grapevine", "grapevine binary")
	dur := flag.Duration("d", 5*time.Second, "duration of one wrk round")
	rounds := flag.Int("rounds", 2, "rounds per server (alternating)")
	conns := flag.Int("c", 32, "wrk connections")
	flag.Parse()
	if *rounds < 1 || *rounds > 20 || *dur < time.Second || *dur > time.Minute {
		fmt.Fprintln(os.Stderr, "benchhttp: -rounds 1..20, -d 1s..1m")
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, *bin, *dur, *rounds, *conns, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "benchhttp:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, bin string, dur time.Duration, rounds, conns int, out io.Writer) error {
	progs, ok := benchproc.Programs("wrk", "nginx")
	if !ok {
		fmt.Fprintln(out, "benchhttp: skipped: wrk and nginx are needed (make deps-bench installs them)")
		return nil
	}
	wrk, nginx := progs[0], progs[1]
	dir, err := os.MkdirTemp("", "benchhttp-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)

	// Unpinned: every process may run on every CPU, as on a host where
	// nothing is arranged (the kernel places wrk's threads, nginx's worker
	// and the agent's threads as it likes).
	url, pid, body, stopAgent, err := startAgent(ctx, bin, "")
	if err != nil {
		return err
	}
	defer stopAgent()
	// The same agent on one core, as nginx's one worker is: the difference
	// to the line above is what the Go scheduler costs on a busy machine.
	url1, pid1, body1, stopAgent1, err := startAgent(ctx, bin, "", "GOMAXPROCS=1")
	if err != nil {
		return err
	}
	defer stopAgent1()
	if len(body1) != len(body) {
		return fmt.Errorf("the two agents answer %d and %d bytes", len(body), len(body1))
	}
	root := filepath.Join(dir, "www")
	if err := os.MkdirAll(filepath.Join(root, "v1", "services"), 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(root, "v1", "services", "web"), body, 0o644); err != nil {
		return err
	}
	nurl, npid, stopNginx, err := startNginx(ctx, nginx, filepath.Join(dir, "n0"), root, "", body)
	if err != nil {
		return err
	}
	defer stopNginx()
	servers := []server{
		{name: "grapevine agent", url: url, pid: pid},
		{name: "nginx, 1 worker", url: nurl, pid: npid},
		{name: "grapevine agent, GOMAXPROCS=1", url: url1, pid: pid1},
	}

	// Pinned: wrk on one CPU, the server on the other, so each server has
	// exactly one CPU to itself (nginx's one worker; the agent, whose
	// GOMAXPROCS follows the affinity mask, at its default settings) and the
	// load generator never competes with it for a core.
	load, cpu, pin := benchproc.PinCPUs()
	if pin {
		urlP, pidP, _, stopAgentP, err := startAgent(ctx, bin, cpu)
		if err != nil {
			return err
		}
		defer stopAgentP()
		nurlP, npidP, stopNginxP, err := startNginx(ctx, nginx, filepath.Join(dir, "n1"), root, cpu, body)
		if err != nil {
			return err
		}
		defer stopNginxP()
		servers = append(servers,
			server{name: "nginx, 1 worker, pinned", url: nurlP, pid: npidP, load: load},
			server{name: "grapevine agent, pinned", url: urlP, pid: pidP, load: load})
	}

	fmt.Fprintf(out, "== HTTP lookup, 3 instances (%d B answer), wrk -c%d, %d × %v per server, alternating\n", len(body), conns, rounds, dur)
	// Each server's CPU time per answer (user and system, from /proc) is
	// printed beside its rate: it depends much less than the rate on what
	// else the machine runs.
	for range rounds {
		for i := range servers {
			s := &servers[i]
			before, start := benchproc.CPUTime(s.pid), time.Now()
			r, n, err := runWrk(ctx, wrk, s.url, s.load, conns, dur)
			if err != nil {
				return err
			}
			used := benchproc.CPUTime(s.pid) - before
			s.rate = append(s.rate, r)
			s.cpu = append(s.cpu, float64(used.Microseconds())/float64(max(n, 1)))
			s.busy = append(s.busy, 100*used.Seconds()/time.Since(start).Seconds())
		}
	}
	// busy is the server's CPU time over the round's wall time, in percent
	// of one core: well under 100 for a pinned server, the load generator
	// was the limit, not the server.
	line := func(s server) {
		fmt.Fprintf(out, "%-32s %8.0f req/s (rounds %v), %5.1f µs CPU per request, busy %3.0f%% of a core\n",
			s.name+":", benchproc.Median(s.rate), benchproc.Rounds(s.rate), benchproc.Median(s.cpu), benchproc.Median(s.busy))
	}
	ratio := func(what string, agent, ng server) {
		fmt.Fprintf(out, "%-32s %.2f× (CPU per request: nginx/agent %.2f×)\n", what+":",
			benchproc.Median(agent.rate)/benchproc.Median(ng.rate), benchproc.Median(ng.cpu)/benchproc.Median(agent.cpu))
	}
	fmt.Fprintln(out, "-- unpinned (wrk -t2, servers and wrk share both CPUs)")
	line(servers[0])
	line(servers[1])
	ratio("ratio agent/nginx", servers[0], servers[1])
	line(servers[2])
	ratio("ratio, GOMAXPROCS=1", servers[2], servers[1])
	if !pin {
		fmt.Fprintln(out, "-- pinned: skipped (needs taskset and two CPUs)")
		return nil
	}
	fmt.Fprintf(out, "-- pinned (wrk -t1 on CPU %s, each server alone on CPU %s: equal CPU for both)\n", load, cpu)
	line(servers[3])
	line(servers[4])
	ratio("ratio agent/nginx, pinned", servers[4], servers[3])
	// What one fully busy core answers, from the CPU time per request: the
	// rate at equal CPU that does not depend on whether wrk kept up.
	fmt.Fprintf(out, "%-32s agent %.0f, nginx %.0f req/s: %.2f×\n", "per core (1 s / CPU per request):",
		1e6/benchproc.Median(servers[4].cpu), 1e6/benchproc.Median(servers[3].cpu), benchproc.Median(servers[3].cpu)/benchproc.Median(servers[4].cpu))
	return nil
}

// server is one server under test and its rounds' figures.
type server struct {
	name, url string
	pid       int
	load      string // the CPUs wrk runs on ("" for any)
	rate, cpu []float64
	busy      []float64 // CPU time over wall time per round, percent of one core
}

// startNginx starts nginx with one worker in the master process (no separate
// master), serving root on a free loopback port, pinned to cpus ("" for
// any), under prefix dir; it checks that nginx serves want at the lookup's
// path and returns that URL.
func startNginx(ctx context.Context, nginx, dir, root, cpus string, want []byte) (url string, pid int, stop func(), err error) {
	np := benchproc.FreePort()
	if np == 0 {
		return "", 0, nil, errors.New("no free port")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", 0, nil, err
	}
	conf := fmt.Sprintf(`worker_processes 1;
daemon off;
master_process off;
pid %[1]s/nginx.pid;
error_log stderr error;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path %[1]s/tmp;
  proxy_temp_path %[1]s/tmp;
  fastcgi_temp_path %[1]s/tmp;
  uwsgi_temp_path %[1]s/tmp;
  scgi_temp_path %[1]s/tmp;
  keepalive_requests 1000000;
  server {
    listen 127.0.0.1:%[2]d;
    root %[3]s;
    default_type application/json;
  }
}
`, dir, np, root)
	if err := os.WriteFile(filepath.Join(dir, "nginx.conf"), []byte(conf), 0o644); err != nil {
		return "", 0, nil, err
	}
	prog, args := benchproc.Pinned(cpus, nginx, "-p", dir, "-c", filepath.Join(dir, "nginx.conf"), "-e", "stderr")
	ng := exec.CommandContext(ctx, prog, args...)
	ng.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	var ngErr bytes.Buffer
	ng.Stderr = &ngErr
	if err := ng.Start(); err != nil {
		return "", 0, nil, fmt.Errorf("start nginx: %w", err)
	}
	stop = func() { _ = syscall.Kill(-ng.Process.Pid, syscall.SIGKILL); _ = ng.Wait() }
	url = fmt.Sprintf("http://127.0.0.1:%d/v1/services/web", np)
	var body []byte
	err = benchproc.WaitUp(ctx, func() (err error) { body, err = fetch(ctx, url); return err })
	if !bytes.Equal(body, want) {
		stop()
		return "", 0, nil, fmt.Errorf("nginx does not serve the agent's answer (%v): %s", err, ngErr.String())
	}
	return url, ng.Process.Pid, stop, nil
}

// startAgent starts a dev agent (pinned to cpus, "" for any; env added to
// its environment) holding three instances of service web, and returns the
// lookup's URL and answer.
func startAgent(ctx context.Context, bin, cpus string, env ...string) (url string, pid int, body []byte, stop func(), err error) {
	c, pid, stop, err := benchproc.StartDevAgentPid(ctx, bin, "", cpus, env...)
	if err != nil {
		return "", 0, nil, nil, err
	}
	for i := range 3 {
		reg := api.Registration{ID: fmt.Sprintf("web-%d", i), Name: "web", Port: 8080 + i, Tags: []string{"v2", "http"},
			Meta: map[string]string{"version": "2.4.1"}}
		if _, err := c.Register(ctx, reg); err != nil {
			stop()
			return "", 0, nil, nil, fmt.Errorf("register: %w", err)
		}
	}
	url = c.Address() + "/v1/services/web"
	if body, err = fetch(ctx, url); err != nil {
		stop()
		return "", 0, nil, nil, err
	}
	return url, pid, body, stop, nil
}

var (
	reqSec   = regexp.MustCompile(`Requests/sec:\s+([0-9.]+)`)
	reqCount = regexp.MustCompile(`([0-9]+) requests in`)
)

// runWrk runs one round of wrk against url: requests per second, and how
// many requests it made. With cpus ("" for any) wrk runs pinned there,
// with one thread (one CPU); otherwise with two.
func runWrk(ctx context.Context, wrk, url, cpus string, conns int, dur time.Duration) (float64, int64, error) {
	secs := strconv.Itoa(int(dur.Seconds()))
	threads := "-t2"
	if cpus != "" {
		threads = "-t1"
	}
	prog, args := benchproc.Pinned(cpus, wrk, threads, "-c"+strconv.Itoa(conns), "-d"+secs+"s", url)
	out, err := exec.CommandContext(ctx, prog, args...).CombinedOutput()
	if err != nil {
		return 0, 0, fmt.Errorf("wrk: %w: %s", err, out)
	}
	m, n := reqSec.FindSubmatch(out), reqCount.FindSubmatch(out)
	if m == nil || n == nil {
		return 0, 0, fmt.Errorf("wrk: no Requests/sec or request count in %q", out)
	}
	if bytes.Contains(out, []byte("Non-2xx")) {
		return 0, 0, fmt.Errorf("wrk: non-2xx answers: %s", out)
	}
	rps, err := strconv.ParseFloat(string(m[1]), 64)
	if err != nil {
		return 0, 0, err
	}
	count, err := strconv.ParseInt(string(n[1]), 10, 64)
	return rps, count, err
}

func fetch(ctx context.Context, url string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return io.ReadAll(io.LimitReader(resp.Body, 1<<20))
}
