package agent_test

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/grapevine-sd/grapevine/agent/agenttest"
	"github.com/grapevine-sd/grapevine/api"
)

// Checks registered over the API may not reach link-local or cloud metadata
// addresses (check_targets): a literal target is refused with 400 on the
// native and the Consul-compatible API, a name is judged by the address it
// resolves to at each connect (critical, saying why), and the operator's
// definition files are trusted.
func TestCheckTargetsRestrictAPIChecks(t *testing.T) {
	// 127.0.0.2 stands for a forbidden address the test may connect to.
	l, err := net.Listen("tcp", "127.0.0.2:0")
	if err != nil {
		t.Skipf("no listener on 127.0.0.2: %v", err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	forbidden := l.Addr().String()

	dir := t.TempDir()
	writeFile(t, dir, "trusted.json", `{"id":"ops-1","name":"ops","port":1,"checks":[{"id":"ops-tcp","type":"tcp","target":"`+forbidden+`","interval":"1s"}]}`)
	cfg := agenttest.Config(t, "node-a")
	cfg.ConfigDir = dir
	cfg.Consul.HTTP = "127.0.0.1:0"
	cfg.CheckTargets.Deny = append(cfg.CheckTargets.Deny, "127.0.0.2/32")
	a := agenttest.Start(t, cfg)
	c := agenttest.Client(t, a)
	base, consul := "http://"+a.HTTPAddr(), "http://"+a.ConsulAddr()

	for _, tt := range []struct{ typ, target string }{
		{"http", "http://169.254.169.254/latest/meta-data/"},
		{"http", "http://[::ffff:169.254.169.254]/"},
		{"http", "http://[fe80::1%25eth0]:8080/"},
		{"tcp", "169.254.169.254:80"},
		{"tcp", "[fd00:ec2::254]:80"},
		{"grpc", "169.254.169.254:50051"},
		{"tcp", forbidden},
	} {
		body := fmt.Sprintf(`{"name":"web","id":"w","port":80,"checks":[{"type":%q,"target":%q}]}`, tt.typ, tt.target)
		if code, out := call(t, "PUT", base+"/v1/agent/services", "", body); code != http.StatusBadRequest || !strings.Contains(out, "check_targets") {
			t.Errorf("%s check on %s over the API: %d %s, want 400 naming check_targets", tt.typ, tt.target, code, out)
		}
	}
	for _, def := range []string{
		`"HTTP":"http://169.254.169.254/","Interval":"10s"`,
		`"TCP":"169.254.169.254:80","Interval":"10s"`,
		`"GRPC":"169.254.169.254:50051","Interval":"10s"`,
	} {
		r := putJSON(t, consul+"/v1/agent/service/register", `{"Name":"web","Port":80,"Check":{`+def+`}}`)
		if r.code != http.StatusBadRequest || !strings.Contains(r.body, "check_targets") {
			t.Errorf("Consul check {%s}: %d %s, want 400 naming check_targets", def, r.code, r.body)
		}
	}
	if insts := a.Catalog().Registrations(); len(insts) != 1 {
		t.Errorf("refused registrations left %d registrations, want the file's one", len(insts))
	}

	// The operator's file is trusted: its check reaches the address.
	waitHealth(t, c, "node-a", "ops-1", api.HealthPassing, 15*time.Second)

	// A name is judged by what it resolves to when the probe connects: with
	// loopback denied, a check on localhost registers (a name is no literal)
	// and is critical, saying why, though its server answers.
	ok, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ok.Close()
	_, port, _ := net.SplitHostPort(ok.Addr().String())
	cfgB := agenttest.Config(t, "node-b")
	cfgB.CheckTargets.Deny = []string{"127.0.0.0/8", "::1"}
	b := agenttest.Start(t, cfgB)
	cb := agenttest.Client(t, b)
	mustRegister(t, cb, api.Registration{ID: "n1", Name: "named", Port: 1, Checks: []json.RawMessage{
		json.RawMessage(`{"id":"named-tcp","type":"tcp","target":"localhost:` + port + `","interval":"1s"}`),
	}})
	agenttest.Eventually(t, 15*time.Second, func() (bool, string) {
		cs, err := cb.Checks(t.Context())
		if err != nil || len(cs) != 1 {
			return false, fmt.Sprintf("checks %+v, %v", cs, err)
		}
		return cs[0].Status == api.HealthCritical && strings.Contains(cs[0].Output, "check_targets.deny"), fmt.Sprintf("check %+v", cs[0])
	})
}

// A registration persisted before check_targets denied its target is kept
// at the next start (never lost), and its check is critical saying why.
func TestCheckTargetsRestoredCheckKeptCritical(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.2:0")
	if err != nil {
		t.Skipf("no listener on 127.0.0.2: %v", err)
	}
	defer l.Close()
	cfg := agenttest.Config(t, "node-a")
	a := agenttest.Start(t, cfg)
	mustRegister(t, agenttest.Client(t, a), api.Registration{ID: "w1", Name: "web", Port: 1, Checks: []json.RawMessage{
		json.RawMessage(`{"id":"w1-tcp","type":"tcp","target":"` + l.Addr().String() + `","interval":"1s"}`),
	}})
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	cfg.CheckTargets.Deny = append(cfg.CheckTargets.Deny, "127.0.0.2/32")
	b := agenttest.Start(t, cfg)
	c := agenttest.Client(t, b)
	agenttest.Eventually(t, 15*time.Second, func() (bool, string) {
		cs, err := c.Checks(t.Context())
		if err != nil || len(cs) != 1 {
			return false, fmt.Sprintf("checks %+v, %v", cs, err)
		}
		return cs[0].Instance == "w1" && cs[0].Status == api.HealthCritical && strings.Contains(cs[0].Output, "check_targets.deny"), fmt.Sprintf("check %+v", cs[0])
	})
}
