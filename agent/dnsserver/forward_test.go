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
			p := freeUDPPort(t)
			cmd := exec.Command(bin, f.args(p)...)
			cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() {
				cmd.Process.Kill()
				cmd.Wait()
			})
			addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(p))
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
