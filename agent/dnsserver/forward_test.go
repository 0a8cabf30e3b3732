package dnsserver

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// TestForwarders runs the forwarding setups of docs/dns.md — unbound with a
// stub zone (and 0x20 case randomization on), dnsmasq with a server= line —
// in front of the server, and asks them: answers, NXDOMAIN and SRV pass
// through.
func TestForwarders(t *testing.T) {
	if testing.Short() {
		t.Skip("starts unbound and dnsmasq")
	}
	s := startServer(t, testConfig(testSource()))
	host, port, _ := net.SplitHostPort(s.Addr())
	dir := t.TempDir()
	type forwarder struct {
		name string
		bin  string
		args func(port int) []string
	}
	for _, f := range []forwarder{
		{"unbound", "unbound", func(p int) []string {
			conf := fmt.Sprintf(`server:
  interface: 127.0.0.1@%[1]d
  port: %[1]d
  do-daemonize: no
  username: ""
  chroot: ""
  directory: "%[2]s"
  pidfile: "%[2]s/unbound.pid"
  use-syslog: no
  logfile: ""
  do-not-query-localhost: no
  domain-insecure: "grapevine."
  domain-insecure: "consul."
  use-caps-for-id: yes
  access-control: 127.0.0.0/8 allow
stub-zone:
  name: "grapevine."
  stub-addr: %[3]s@%[4]s
`, p, dir, host, port)
			path := filepath.Join(dir, "unbound.conf")
			if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
				t.Fatal(err)
			}
			return []string{"-d", "-c", path}
		}},
		{"dnsmasq", "dnsmasq", func(p int) []string {
			return []string{"-k", "-p", strconv.Itoa(p), "--listen-address=127.0.0.1", "--bind-interfaces", "--no-resolv", "--no-hosts",
				"--server=/grapevine/" + host + "#" + port, "--pid-file=" + filepath.Join(dir, "dnsmasq.pid")}
		}},
	} {
		t.Run(f.name, func(t *testing.T) {
			bin, err := exec.LookPath(f.bin)
			if err != nil {
				if _, e := os.Stat("/usr/sbin/" + f.bin); e != nil {
					t.Skipf("%s not installed (make deps-dns installs it)", f.bin)
				}
				bin = "/usr/sbin/" + f.bin
			}
			// The forwarder needs a port number; another program may take
			// the one found free before the forwarder binds it: it then
			// exits, and it is started again on another.
			var addr string
			for try := 0; addr == ""; try++ {
				p := freeUDPPort(t)
				if up(t, bin, f.args(p), p) {
					addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(p))
				} else if try == 4 {
					t.Fatalf("%s did not start on 5 ports", f.name)
				}
			}
			ask := func(name string, qtype uint16) *dns.Msg {
				m := new(dns.Msg)
				m.SetQuestion(name, qtype)
				m.SetEdns0(1232, false) // without EDNS dnsmasq asks without it: udp_answer_limit applies
				var r *dns.Msg
				var err error
				for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
					if r, err = dns.Exchange(m, addr); err == nil && r.Rcode != dns.RcodeServerFailure && r.Rcode != dns.RcodeRefused {
						return r
					}
				}
				t.Fatalf("%s %s via %s: %v %v", name, dns.TypeToString[qtype], f.name, r, err)
				return nil
			}
			if r := ask("web.service.grapevine.", dns.TypeA); len(r.Answer) != 2 {
				t.Errorf("A: %v", r.Answer)
			}
			if r := ask("nope.service.grapevine.", dns.TypeA); r.Rcode != dns.RcodeNameError {
				t.Errorf("nope: %s", dns.RcodeToString[r.Rcode])
			}
			if r := ask("_web._tcp.service.grapevine.", dns.TypeSRV); len(r.Answer) != 4 {
				t.Errorf("SRV: %v", r.Answer)
			}
		})
	}
}

// up starts the forwarder bin with args and reports whether it serves on
// port (it answers a query, any answer) while still running; one that exits
// first (its port taken) is not up. A started forwarder is killed at the end
// of the test.
func up(t *testing.T, bin string, args []string, port int) bool {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-exited
	})
	m := new(dns.Msg)
	m.SetQuestion("up.service.grapevine.", dns.TypeA) // forwarded to the test server, never beyond loopback
	c := &dns.Client{Timeout: 200 * time.Millisecond}
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); {
		select {
		case <-exited:
			return false
		default:
		}
		if _, _, err := c.Exchange(m, net.JoinHostPort("127.0.0.1", strconv.Itoa(port))); err == nil {
			select {
			case <-exited:
				return false // someone else answered
			default:
				return true
			}
		}
	}
	return false
}

func freeUDPPort(t *testing.T) int {
	t.Helper()
	for range 20 {
		l, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		p := l.LocalAddr().(*net.UDPAddr).Port
		l.Close()
		if tl, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p))); err == nil {
			tl.Close()
			return p
		}
	}
	t.Fatal("no free port")
	return 0
}
