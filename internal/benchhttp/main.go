// Command benchhttp measures the agent's HTTP lookup throughput beside a
// reference measured in the same run: it starts a real agent process with
// three instances of one service, saves the agent's answer to a file, has
// nginx (one worker) serve the same bytes, and runs wrk against both,
// alternating, several rounds each. It prints requests per second for each and
// the ratio; then the same for a second agent limited to one core
// (GOMAXPROCS=1), as nginx's one worker is. Every server listens on 127.0.0.1
// only; all are stopped on exit.
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

	np := benchproc.FreePort()
	if np == 0 {
		return errors.New("no free port")
	}
	url, pid, body, stopAgent, err := startAgent(ctx, bin)
	if err != nil {
		return err
	}
	defer stopAgent()
	// The same agent on one core, as nginx's one worker is: the difference
	// to the line above is what the Go scheduler costs on a busy machine.
	url1, pid1, body1, stopAgent1, err := startAgent(ctx, bin, "GOMAXPROCS=1")
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
		return err
	}
	ng := exec.CommandContext(ctx, nginx, "-p", dir, "-c", filepath.Join(dir, "nginx.conf"), "-e", "stderr")
	ng.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	var ngErr bytes.Buffer
	ng.Stderr = &ngErr
	if err := ng.Start(); err != nil {
		return fmt.Errorf("start nginx: %w", err)
	}
	defer func() { _ = syscall.Kill(-ng.Process.Pid, syscall.SIGKILL); _ = ng.Wait() }()
	nurl := fmt.Sprintf("http://127.0.0.1:%d/v1/services/web", np)
	var nbody []byte
	for range 50 {
		if nbody, err = fetch(ctx, nurl); err == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if !bytes.Equal(nbody, body) {
		return fmt.Errorf("nginx does not serve the agent's answer (%v): %s", err, ngErr.String())
	}

	fmt.Fprintf(out, "== HTTP lookup, 3 instances (%d B answer), wrk -t2 -c%d, %d × %v per server, alternating\n", len(body), conns, rounds, dur)
	// Each server's CPU time per answer (user and system, from /proc) is
	// printed beside its rate: it depends much less than the rate on what
	// else the machine runs.
	servers := []struct {
		url string
		pid int
	}{{url, pid}, {nurl, ng.Process.Pid}, {url1, pid1}}
	rate := make([][]float64, len(servers))
	cpu := make([][]float64, len(servers)) // µs per request
	for range rounds {
		for i, s := range servers {
			before := benchproc.CPUTime(s.pid)
			r, n, err := runWrk(ctx, wrk, s.url, conns, dur)
			if err != nil {
				return err
			}
			rate[i] = append(rate[i], r)
			cpu[i] = append(cpu[i], float64((benchproc.CPUTime(s.pid)-before).Microseconds())/float64(max(n, 1)))
		}
	}
	r, c := make([]float64, len(servers)), make([]float64, len(servers))
	for i := range servers {
		r[i], c[i] = benchproc.Median(rate[i]), benchproc.Median(cpu[i])
	}
	line := func(name string, i int) {
		fmt.Fprintf(out, "%-30s %8.0f req/s (rounds %v), %5.1f µs CPU per request\n", name+":", r[i], benchproc.Rounds(rate[i]), c[i])
	}
	line("grapevine agent", 0)
	line("nginx, 1 worker", 1)
	fmt.Fprintf(out, "ratio agent/nginx:              %.2f× (CPU per request: nginx/agent %.2f×)\n", r[0]/r[1], c[1]/c[0])
	line("grapevine agent, GOMAXPROCS=1", 2)
	fmt.Fprintf(out, "ratio, one core each:           %.2f× (CPU per request: nginx/agent %.2f×)\n", r[2]/r[1], c[1]/c[2])
	return nil
}

// startAgent starts a dev agent (env added to its environment) holding three
// instances of service web, and returns the lookup's URL and answer.
func startAgent(ctx context.Context, bin string, env ...string) (url string, pid int, body []byte, stop func(), err error) {
	c, pid, stop, err := benchproc.StartDevAgentPid(ctx, bin, "", env...)
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
// many requests it made.
func runWrk(ctx context.Context, wrk, url string, conns int, dur time.Duration) (float64, int64, error) {
	secs := strconv.Itoa(int(dur.Seconds()))
	out, err := exec.CommandContext(ctx, wrk, "-t2", "-c"+strconv.Itoa(conns), "-d"+secs+"s", url).CombinedOutput()
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
