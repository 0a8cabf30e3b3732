// Command benchdns measures the agent's DNS throughput beside an
// authoritative server in C measured in the same run: it starts a real agent
// process with three instances of one service, has nsd serve the same three
// A records (same TTL, minimal responses, rate limiting off), and runs
// dnsperf against both, alternating, several rounds each. It prints queries
// per second for each and the ratio, then the amplification of the largest
// UDP answer the agent gives: an SRV query for a 200-instance service
// advertising a 65535-byte buffer. Everything listens on 127.0.0.1 only and
// is stopped on exit; the whole run is bounded by -timeout.
//
// `make bench` runs it (`make bench-dns` alone); it skips with a reason when
// dnsperf or nsd is absent (`make deps-dns` installs them).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"syscall"
	"time"

	"github.com/grapevine-sd/grapevine/api"
	"github.com/grapevine-sd/grapevine/internal/benchproc"
	"github.com/miekg/dns"
)

func main() {
	bin := flag.String("bin", "bin/grapevine", "grapevine binary")
	dur := flag.Duration("d", 3*time.Second, "duration of one dnsperf round")
	rounds := flag.Int("rounds", 5, "rounds per server (alternating)")
	clients := flag.Int("c", 4, "dnsperf clients (-c)")
	timeout := flag.Duration("timeout", 3*time.Minute, "bound on the whole run")
	flag.Parse()
	if *rounds < 1 || *rounds > 20 || *dur < time.Second || *dur > time.Minute || *clients < 1 || *clients > 64 {
		fmt.Fprintln(os.Stderr, "benchdns: -rounds 1..20, -d 1s..1m, -c 1..64")
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	if err := run(ctx, *bin, *dur, *rounds, *clients, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "benchdns:", err)
		os.Exit(1)
	}
}

const zoneTemplate = `$TTL 5
@ IN SOA ns.grapevine. hostmaster.grapevine. 1 3600 600 86400 5
@ IN NS ns.grapevine.
ns IN A 127.0.0.1
web.service IN A 10.0.0.1
web.service IN A 10.0.0.2
web.service IN A 10.0.0.3
`

func run(ctx context.Context, bin string, dur time.Duration, rounds, clients int, out io.Writer) error {
	progs, ok := benchproc.Programs("dnsperf", "nsd")
	if !ok {
		fmt.Fprintln(out, "benchdns: skipped: dnsperf and nsd are needed (make deps-dns installs them)")
		return nil
	}
	dnsperf, nsd := progs[0], progs[1]
	dir, err := os.MkdirTemp("", "benchdns-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)

	// The agent.
	dp, np := benchproc.FreePort(), benchproc.FreePort()
	if dp == 0 || np == 0 {
		return errors.New("no free port")
	}
	agentDNS := fmt.Sprintf("127.0.0.1:%d", dp)
	c, stopAgent, err := benchproc.StartDevAgent(ctx, bin, agentDNS)
	if err != nil {
		return err
	}
	defer stopAgent()
	for i := range 3 {
		reg := api.Registration{ID: fmt.Sprintf("web-%d", i), Name: "web", Address: fmt.Sprintf("10.0.0.%d", i+1), Port: 80}
		if _, err := c.Register(ctx, reg); err != nil {
			return fmt.Errorf("register: %w", err)
		}
	}

	// nsd with the same records, as many server processes as the agent has
	// UDP workers.
	servers := max(2, runtime.NumCPU())
	nsdAddr := fmt.Sprintf("127.0.0.1:%d", np)
	conf := fmt.Sprintf(`server:
  ip-address: 127.0.0.1@%[2]d
  server-count: %[3]d
  username: ""
  zonesdir: "%[1]s"
  database: ""
  pidfile: "%[1]s/nsd.pid"
  zonelistfile: "%[1]s/zone.list"
  xfrdfile: "%[1]s/xfrd.state"
  xfrdir: "%[1]s"
  logfile: "%[1]s/nsd.log"
  verbosity: 0
  minimal-responses: yes
  refuse-any: no
  rrl-ratelimit: 0
  rrl-whitelist-ratelimit: 0
remote-control:
  control-enable: no
zone:
  name: grapevine.
  zonefile: grapevine.zone
`, dir, np, servers)
	if err := os.WriteFile(filepath.Join(dir, "grapevine.zone"), []byte(zoneTemplate), 0o644); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "nsd.conf"), []byte(conf), 0o644); err != nil {
		return err
	}
	stopNSD, err := benchproc.Start(ctx, nsd, "-d", "-c", filepath.Join(dir, "nsd.conf"))
	if err != nil {
		return err
	}
	defer stopNSD()

	// Both answer the same three records.
	for _, s := range []struct{ name, addr string }{{"agent", agentDNS}, {"nsd", nsdAddr}} {
		if err := benchproc.WaitUp(ctx, func() error { return threeRecords(s.addr) }); err != nil {
			return fmt.Errorf("%s: %w", s.name, err)
		}
	}
	qfile := filepath.Join(dir, "queries")
	if err := os.WriteFile(qfile, []byte("web.service.grapevine. A\n"), 0o644); err != nil {
		return err
	}
	fmt.Fprintf(out, "== DNS, 3 A records, dnsperf -c %d, %d × %v per server, alternating (agent GOMAXPROCS %d, nsd server-count %d)\n",
		clients, rounds, dur, runtime.NumCPU(), servers)
	var g, n []float64
	for range rounds {
		r, err := runDNSPerf(ctx, dnsperf, agentDNS, qfile, clients, dur)
		if err != nil {
			return fmt.Errorf("agent: %w", err)
		}
		g = append(g, r)
		r, err = runDNSPerf(ctx, dnsperf, nsdAddr, qfile, clients, dur)
		if err != nil {
			return fmt.Errorf("nsd: %w", err)
		}
		n = append(n, r)
	}
	gm, nm := benchproc.Median(g), benchproc.Median(n)
	fmt.Fprintf(out, "grapevine agent: %8.0f queries/s (rounds %s)\n", gm, benchproc.Rounds(g))
	fmt.Fprintf(out, "nsd:             %8.0f queries/s (rounds %s)\n", nm, benchproc.Rounds(n))
	fmt.Fprintf(out, "ratio agent/nsd: %.2f×\n", gm/nm)

	// Amplification: the largest UDP answer for the smallest query.
	for i := range 200 {
		reg := api.Registration{ID: fmt.Sprintf("big-%d", i), Name: "big", Address: fmt.Sprintf("10.1.%d.%d", i/250, i%250+1), Port: 1000 + i}
		if _, err := c.Register(ctx, reg); err != nil {
			return fmt.Errorf("register: %w", err)
		}
	}
	in, outB, tc, err := amplification(agentDNS)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "amplification, SRV of 200 instances, EDNS buffer 65535, UDP: %d B in, %d B out (TC %v): %.2f×\n",
		in, outB, tc, float64(outB)/float64(in))
	return nil
}

func threeRecords(addr string) error {
	m := new(dns.Msg)
	m.SetQuestion("web.service.grapevine.", dns.TypeA)
	r, err := dns.Exchange(m, addr)
	if err != nil {
		return err
	}
	if len(r.Answer) != 3 {
		return fmt.Errorf("%d answers, want 3", len(r.Answer))
	}
	return nil
}

// amplification sends an SRV query with a 65535-byte EDNS buffer over UDP
// and returns the bytes in and out.
func amplification(addr string) (int, int, bool, error) {
	m := new(dns.Msg)
	m.SetQuestion("big.service.grapevine.", dns.TypeSRV)
	m.SetEdns0(65535, false)
	q, err := m.Pack()
	if err != nil {
		return 0, 0, false, err
	}
	conn, err := net.Dial("udp", addr)
	if err != nil {
		return 0, 0, false, err
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(3 * time.Second))
	if _, err := conn.Write(q); err != nil {
		return 0, 0, false, err
	}
	buf := make([]byte, 65535)
	n, err := conn.Read(buf)
	if err != nil {
		return 0, 0, false, err
	}
	r := new(dns.Msg)
	if err := r.Unpack(buf[:n]); err != nil {
		return 0, 0, false, err
	}
	return len(q), n, r.Truncated, nil
}

var qps = regexp.MustCompile(`Queries per second:\s+([0-9.]+)`)
var lost = regexp.MustCompile(`Queries lost:\s+([0-9]+)`)

func runDNSPerf(ctx context.Context, dnsperf, addr, qfile string, clients int, dur time.Duration) (float64, error) {
	host, port, _ := net.SplitHostPort(addr)
	secs := strconv.Itoa(int(dur.Seconds()))
	out, err := exec.CommandContext(ctx, dnsperf, "-s", host, "-p", port, "-d", qfile, "-c", strconv.Itoa(clients), "-l", secs).CombinedOutput()
	if err != nil {
		return 0, fmt.Errorf("dnsperf: %w: %s", err, out)
	}
	m := qps.FindSubmatch(out)
	if m == nil {
		return 0, fmt.Errorf("dnsperf: no queries per second in %q", out)
	}
	if l := lost.FindSubmatch(out); l != nil && string(l[1]) != "0" {
		fmt.Fprintf(os.Stderr, "benchdns: %s lost %s queries\n", addr, l[1])
	}
	return strconv.ParseFloat(string(m[1]), 64)
}
