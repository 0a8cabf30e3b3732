// Command benchhttp measures the agent's HTTP lookup throughput beside a
// reference measured in the same run: it starts a real agent process with
// three instances of one service, saves the agent's answer to a file, has
// nginx (one worker) serve the same bytes, and runs wrk against both,
// alternating, several rounds each. It prints requests per second for each and
// the ratio. Both servers listen on 127.0.0.1 only; both are stopped on exit.
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
	c, stopAgent, err := benchproc.StartDevAgent(ctx, bin, "")
	if err != nil {
		return err
	}
	defer stopAgent()
	for i := range 3 {
		reg := api.Registration{ID: fmt.Sprintf("web-%d", i), Name: "web", Port: 8080 + i, Tags: []string{"v2", "http"},
			Meta: map[string]string{"version": "2.4.1"}}
		if _, err := c.Register(ctx, reg); err != nil {
			return fmt.Errorf("register: %w", err)
		}
	}
	url := c.Address() + "/v1/services/web"
	body, err := fetch(ctx, url)
	if err != nil {
		return err
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
	var g, n []float64
	for range rounds {
		r, err := runWrk(ctx, wrk, url, conns, dur)
		if err != nil {
			return err
		}
		g = append(g, r)
		r, err = runWrk(ctx, wrk, nurl, conns, dur)
		if err != nil {
			return err
		}
		n = append(n, r)
	}
	gm, nm := benchproc.Median(g), benchproc.Median(n)
	fmt.Fprintf(out, "grapevine agent:   %8.0f req/s (rounds %v)\n", gm, benchproc.Rounds(g))
	fmt.Fprintf(out, "nginx, 1 worker:   %8.0f req/s (rounds %v)\n", nm, benchproc.Rounds(n))
	fmt.Fprintf(out, "ratio agent/nginx: %.2f×\n", gm/nm)
	return nil
}

var reqSec = regexp.MustCompile(`Requests/sec:\s+([0-9.]+)`)

func runWrk(ctx context.Context, wrk, url string, conns int, dur time.Duration) (float64, error) {
	secs := strconv.Itoa(int(dur.Seconds()))
	out, err := exec.CommandContext(ctx, wrk, "-t2", "-c"+strconv.Itoa(conns), "-d"+secs+"s", url).CombinedOutput()
	if err != nil {
		return 0, fmt.Errorf("wrk: %w: %s", err, out)
	}
	m := reqSec.FindSubmatch(out)
	if m == nil {
		return 0, fmt.Errorf("wrk: no Requests/sec in %q", out)
	}
	if bytes.Contains(out, []byte("Non-2xx")) {
		return 0, fmt.Errorf("wrk: non-2xx answers: %s", out)
	}
	return strconv.ParseFloat(string(m[1]), 64)
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
