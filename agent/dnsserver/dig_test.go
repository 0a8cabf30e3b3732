package dnsserver

import (
	"net"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// TestDig asks with the real dig. Note dig 9.18 silently advertises 1232
// for any +bufsize of 32768 or more, so large buffers are tested with 32767
// (and with hand-built queries in TestTruncation).
func TestDig(t *testing.T) {
	dig, err := exec.LookPath("dig")
	if err != nil {
		t.Skip("dig not installed (make deps-dns installs dnsutils)")
	}
	s := startServer(t, testConfig(testSource()))
	host, port, _ := net.SplitHostPort(s.Addr())
	run := func(args ...string) string {
		t.Helper()
		out, err := exec.Command(dig, append([]string{"@" + host, "-p", port, "+tries=1", "+time=3"}, args...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("dig %v: %v\n%s", args, err, out)
		}
		return string(out)
	}
	status := regexp.MustCompile(`status: ([A-Z]+)`)
	flags := regexp.MustCompile(`;; flags: ([a-z ]+);`)
	size := regexp.MustCompile(`MSG SIZE  rcvd: (\d+)`)
	tests := []struct {
		args     []string
		status   string
		flags    string // exact flag set
		contains []string
		maxSize  int
	}{
		{args: []string{"web.service.grapevine", "A"}, status: "NOERROR", flags: "qr aa rd",
			contains: []string{"web.service.grapevine.\t5\tIN\tA\t10.0.0.1", "web.service.grapevine.\t5\tIN\tA\t10.0.0.2"}},
		{args: []string{"WeB.sErViCe.GrApEvInE", "A", "+norec"}, status: "NOERROR", flags: "qr aa",
			contains: []string{"WeB.sErViCe.GrApEvInE.\t5\tIN\tA\t10.0.0.1"}},
		{args: []string{"_web._tcp.service.grapevine", "SRV"}, status: "NOERROR", flags: "qr aa rd",
			contains: []string{"IN\tSRV\t1 1 8080 0a000001.addr.grapevine.", "0a000001.addr.grapevine. 5\tIN\tA\t10.0.0.1"}},
		{args: []string{"web.service.z2.grapevine", "A"}, status: "NOERROR", flags: "qr aa rd",
			contains: []string{"IN\tA\t10.0.0.2", "IN\tA\t10.0.0.1", "ANSWER: 2,"}}, // n2 and n5
		{args: []string{"nope.service.grapevine", "A"}, status: "NXDOMAIN", flags: "qr aa rd",
			contains: []string{"grapevine.\t\t5\tIN\tSOA\tns.grapevine. hostmaster.grapevine."}},
		{args: []string{"grapevine", "SOA"}, status: "NOERROR", flags: "qr aa rd", contains: []string{"ANSWER: 1,"}},
		{args: []string{"grapevine", "NS"}, status: "NOERROR", flags: "qr aa rd", contains: []string{"ns.grapevine.\t\t30\tIN\tA\t127.0.0.1"}},
		{args: []string{"example.com", "A"}, status: "REFUSED", flags: "qr rd"},
		{args: []string{"+edns=1", "+noednsnegotiation", "web.service.grapevine", "A"}, status: "BADVERS", flags: "qr aa rd"},
		{args: []string{"web.service.consul", "A"}, status: "NOERROR", flags: "qr aa rd", contains: []string{"web.service.consul.\t5\tIN\tA\t10.0.0.1"}},
		// UDP only (+ignore: no retry over TCP): an empty truncated answer.
		{args: []string{"+bufsize=32767", "+ignore", "big.service.grapevine", "SRV"}, status: "NOERROR", flags: "qr aa tc rd",
			contains: []string{"ANSWER: 0,", "udp: 1232"}, maxSize: 60},
		{args: []string{"+noedns", "+ignore", "big.service.grapevine", "A"}, status: "NOERROR", flags: "qr aa rd",
			contains: []string{"ANSWER: 3,"}, maxSize: 512},
		// dig retries over TCP on TC and gets everything.
		{args: []string{"+bufsize=32767", "big.service.grapevine", "SRV"}, status: "NOERROR", flags: "qr aa rd",
			contains: []string{"ANSWER: 200,", "(TCP)"}},
		{args: []string{"+tcp", "big.service.grapevine", "A"}, status: "NOERROR", flags: "qr aa rd", contains: []string{"ANSWER: 200,"}},
	}
	for _, tt := range tests {
		out := run(tt.args...)
		name := strings.Join(tt.args, " ")
		if m := status.FindStringSubmatch(out); m == nil || m[1] != tt.status {
			t.Errorf("dig %s: status %v, want %s\n%s", name, m, tt.status, out)
			continue
		}
		if m := flags.FindStringSubmatch(out); m == nil || m[1] != tt.flags {
			t.Errorf("dig %s: flags %v, want %q\n%s", name, m, tt.flags, out)
		}
		for _, c := range tt.contains {
			if !strings.Contains(out, c) {
				t.Errorf("dig %s: no %q in\n%s", name, c, out)
			}
		}
		if tt.maxSize > 0 {
			m := size.FindStringSubmatch(out)
			if m == nil {
				t.Errorf("dig %s: no size in\n%s", name, out)
			} else if n, _ := strconv.Atoi(m[1]); n > tt.maxSize {
				t.Errorf("dig %s: %d bytes, max %d", name, n, tt.maxSize)
			}
		}
		if strings.Contains(out, "CNAME") {
			t.Errorf("dig %s: a CNAME\n%s", name, out)
		}
	}
}
