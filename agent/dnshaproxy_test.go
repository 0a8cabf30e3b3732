package agent_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/grapevine-sd/grapevine/agent"
	"github.com/grapevine-sd/grapevine/api"
)

// TestHAProxyFollowsSRV runs HAProxy with a resolvers section pointed at
// the agent and a server-template fed by the agent's SRV records: the
// registered instances become servers, and a deregistered one leaves.
func TestHAProxyFollowsSRV(t *testing.T) {
	haproxy, err := exec.LookPath("haproxy")
	if err != nil {
		if _, e := os.Stat("/usr/sbin/haproxy"); e != nil {
			t.Skip("haproxy not installed (make deps-dns installs it)")
		}
		haproxy = "/usr/sbin/haproxy"
	}
	if testing.Short() {
		t.Skip("starts haproxy")
	}
	a, c, _ := single(t, func(cfg *agent.Config) { cfg.DNS.Addr = "127.0.0.1:0" })
	mustRegister(t, c, api.Registration{ID: "w1", Name: "web", Address: "127.0.0.11", Port: 8001})
	mustRegister(t, c, api.Registration{ID: "w2", Name: "web", Address: "127.0.0.12", Port: 8002})

	dir := t.TempDir()
	sock := filepath.Join(dir, "admin.sock")
	cfg := fmt.Sprintf(`global
    stats socket %s level admin
defaults
    mode tcp
    timeout connect 1s
    timeout client 5s
    timeout server 5s
resolvers grapevine
    nameserver agent %s
    accepted_payload_size 1232
    resolve_retries 3
    timeout resolve 100ms
    timeout retry 100ms
    hold valid 100ms
    hold obsolete 0s
    hold nx 100ms
    hold other 100ms
    hold refused 100ms
    hold timeout 100ms
backend web
    server-template web 4 _web._tcp.service.grapevine resolvers grapevine resolve-prefer ipv4 init-addr none
`, sock, a.DNSAddr())
	path := filepath.Join(dir, "haproxy.cfg")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(haproxy, "-db", "-f", path)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	var out lockedBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() {
		cmd.Wait()
		close(exited)
	}()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-exited
	})

	want := func(addrs ...string) {
		t.Helper()
		slices.Sort(addrs)
		deadline := time.Now().Add(15 * time.Second)
		var got []string
		for time.Now().Before(deadline) {
			select {
			case <-exited:
				t.Fatalf("haproxy exited:\n%s", out.String())
			default:
			}
			got = haproxyServers(sock)
			if slices.Equal(got, addrs) {
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
		t.Fatalf("haproxy servers %v, want %v\nhaproxy output:\n%s\nstate:\n%s", got, addrs, out.String(), haproxyState(sock))
	}
	want("127.0.0.11:8001", "127.0.0.12:8002")
	if err := c.Deregister(t.Context(), "w1"); err != nil {
		t.Fatal(err)
	}
	want("127.0.0.12:8002")
	mustRegister(t, c, api.Registration{ID: "w3", Name: "web", Address: "127.0.0.13", Port: 8003})
	want("127.0.0.12:8002", "127.0.0.13:8003")
}

// haproxyServers lists the servers of backend web that have an address
// from DNS and are not in maintenance: "ip:port" each.
func haproxyServers(sock string) []string {
	// Columns (version 1): be_id be_name srv_id srv_name srv_addr
	// srv_op_state srv_admin_state ... srv_port (19th).
	var out []string
	sc := bufio.NewScanner(strings.NewReader(haproxyState(sock)))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 19 || f[0] == "#" || strings.HasPrefix(f[0], "#") {
			continue
		}
		addr, port := f[4], f[18]
		admin, err := strconv.Atoi(f[6])
		// 0x20: in maintenance for want of a DNS answer; 0x03: forced or
		// inherited maintenance.
		if addr == "-" || addr == "0.0.0.0" || err != nil || admin&0x23 != 0 {
			continue
		}
		out = append(out, addr+":"+port)
	}
	slices.Sort(out)
	return out
}

// haproxyState is the answer of the stats socket to "show servers state web".
func haproxyState(sock string) string {
	conn, err := net.DialTimeout("unix", sock, time.Second)
	if err != nil {
		return ""
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := conn.Write([]byte("show servers state web\n")); err != nil {
		return ""
	}
	b, _ := io.ReadAll(conn)
	return string(b)
}
