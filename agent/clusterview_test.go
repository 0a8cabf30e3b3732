package agent_test

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/grapevine-sd/grapevine/agent"
	"github.com/grapevine-sd/grapevine/agent/agenttest"
	"github.com/grapevine-sd/grapevine/api"
)

func TestChecksState(t *testing.T) {
	t.Parallel()
	a, c, _ := single(t)
	ctx := t.Context()
	reg := api.Registration{ID: "job", Name: "worker"}
	if err := reg.AddCheck(api.CheckDefinition{ID: "job-ttl", Type: "ttl", TTL: "1m"}); err != nil {
		t.Fatal(err)
	}
	if err := reg.AddCheck(api.CheckDefinition{Type: "tcp", Target: "127.0.0.1:1", Interval: "1s"}); err != nil {
		t.Fatal(err)
	}
	mustRegister(t, c, reg)
	if err := c.UpdateTTL(ctx, "job-ttl", api.TTLUpdate{Status: api.HealthWarning, Output: "slow"}); err != nil {
		t.Fatal(err)
	}
	var cs []api.CheckState
	agenttest.Eventually(t, 15*time.Second, func() (bool, string) {
		var err error
		if cs, err = c.Checks(ctx); err != nil {
			return false, err.Error()
		}
		return len(cs) == 2 && cs[1].Failures >= 2, fmt.Sprintf("checks %+v", cs)
	})
	ttl, tcp := cs[0], cs[1] // sorted by ID
	if tcp.ID != "job:2" || tcp.Instance != "job" || tcp.Service != "worker" || tcp.Type != "tcp" || tcp.Status != api.HealthCritical ||
		tcp.Successes != 0 || tcp.Interval != "1s" || tcp.LastRun.IsZero() || tcp.Output == "" {
		t.Errorf("tcp check: %+v", tcp)
	}
	if ttl.ID != "job-ttl" || ttl.Type != "ttl" || ttl.Status != api.HealthWarning || ttl.Output != "slow" || ttl.TTL != "1m0s" || ttl.Interval != "" {
		t.Errorf("ttl check: %+v", ttl)
	}
	if got := a.CheckStates(); !slices.EqualFunc(got, cs, func(x, y api.CheckState) bool { return x.ID == y.ID }) {
		t.Errorf("CheckStates %+v", got)
	}
	if err := c.Deregister(ctx, "job"); err != nil {
		t.Fatal(err)
	}
	if cs, err := c.Checks(ctx); err != nil || len(cs) != 0 {
		t.Errorf("after deregister: %+v, %v", cs, err)
	}
}

// fingerprints is what agent a reports of every live member's fingerprint hash.
func fingerprints(a *agent.Agent) map[string]string {
	out := map[string]string{}
	for _, m := range a.Members() {
		if m.Status == api.MemberAlive && m.Fingerprint != nil {
			out[m.Name] = m.Fingerprint.Hash
		}
	}
	return out
}

// After convergence every agent reports the same fingerprint for every member
// (its own included), and each says all members agree.
func TestFingerprintAgreement(t *testing.T) {
	as := startCluster(t, 3)
	for i, a := range as {
		mustRegister(t, agenttest.Client(t, a), api.Registration{ID: fmt.Sprintf("web-%d", i), Name: "web", Port: 80 + i})
	}
	converged := func() (bool, string) {
		want := as[0].Self().Catalog.Hash
		for _, a := range as {
			s := a.Self()
			fp := fingerprints(a)
			if s.Catalog.Hash != want || len(fp) != len(as) {
				return false, fmt.Sprintf("%s: hash %s, fingerprints %v", s.Node, s.Catalog.Hash, fp)
			}
			for name, h := range fp {
				if h != want {
					return false, fmt.Sprintf("%s sees %s at %s, want %s", s.Node, name, h, want)
				}
			}
			if ag := s.Agreement; !ag.Converged || ag.Agree != len(as) || ag.Ratio != 1 || ag.Since.IsZero() {
				return false, fmt.Sprintf("%s agreement %+v", s.Node, ag)
			}
		}
		return true, ""
	}
	start := time.Now()
	agenttest.Eventually(t, 15*time.Second, converged)
	t.Logf("fingerprints agree everywhere %v after the registrations", time.Since(start))

	// A change at one agent: the others disagree with it until it has spread,
	// then all agree again on the new hash.
	mustRegister(t, agenttest.Client(t, as[2]), api.Registration{ID: "late", Name: "late"})
	agenttest.Eventually(t, 15*time.Second, func() (bool, string) {
		ok, why := converged()
		if ok && fingerprints(as[0])["node-c"] == as[2].Self().Catalog.Hash && as[2].Self().Fingerprint.Instances == 4 {
			return true, ""
		}
		return false, why
	})
	h := as[0].AgreementHistory().Samples
	if len(h) < 2 || h[len(h)-1].Ratio != 1 {
		t.Errorf("history %+v", h)
	}
	r := rawString(t, "GET", "http://"+as[0].HTTPAddr()+"/metrics", "")
	if !strings.Contains(r.body, "grapevine_cluster_agreement_ratio 1\n") || !strings.Contains(r.body, "grapevine_cluster_agreeing_members 3\n") {
		t.Errorf("metrics lack the agreement")
	}
}

// Join at run time through the API; force-leave of a failed member withdraws
// its records everywhere at once; a live member cannot be forced out.
func TestJoinAndForceLeave(t *testing.T) {
	// A long lease grace: without force-leave, a failed member's records stay
	// (stale) for the test's whole life.
	longGrace := func(name string) agent.Config {
		cfg := agenttest.Config(t, name)
		cfg.Leases.Grace = 10 * time.Minute
		return cfg
	}
	a := agenttest.Start(t, longGrace("node-a"))
	b := agenttest.Start(t, longGrace("node-b"))
	c := agenttest.Start(t, agenttest.Config(t, "node-c"))
	ca, cb, cc := agenttest.Client(t, a), agenttest.Client(t, b), agenttest.Client(t, c)
	ctx := t.Context()

	if res, err := cb.Join(ctx, []string{agenttest.GossipAddr(t, a)}); err != nil || res.Contacted != 1 {
		t.Fatalf("join: %+v, %v", res, err)
	}
	if res, err := cc.Join(ctx, []string{agenttest.GossipAddr(t, a), "127.0.0.1:1"}); err != nil || res.Contacted != 1 {
		t.Fatalf("join with one dead address: %+v, %v", res, err)
	}
	if _, err := ca.Join(ctx, []string{"127.0.0.1:1"}); !isStatus(err, http.StatusBadGateway) {
		t.Errorf("join of nothing reachable: %v, want 502", err)
	}
	if _, err := ca.Join(ctx, nil); !isStatus(err, http.StatusBadRequest) {
		t.Errorf("join of no address: %v, want 400", err)
	}
	for _, x := range []*agent.Agent{a, b, c} {
		agenttest.Eventually(t, 15*time.Second, func() (bool, string) {
			s := x.Self()
			return s.Members.Alive == 3, fmt.Sprintf("%s sees %+v", s.Node, s.Members)
		})
	}
	mustRegister(t, cc, api.Registration{ID: "db-1", Name: "db", Port: 5432})
	waitIDs(t, ca, "db", 15*time.Second, "node-c/db-1")
	waitIDs(t, cb, "db", 15*time.Second, "node-c/db-1")

	if err := ca.ForceLeave(ctx, "node-c"); !isStatus(err, http.StatusConflict) {
		t.Errorf("force-leave of a live member: %v, want 409", err)
	}
	if err := ca.ForceLeave(ctx, "node-zz"); !errors.Is(err, api.ErrNotFound) {
		t.Errorf("force-leave of a stranger: %v, want 404", err)
	}

	c.Close() // a crash: the others serve its records stale
	for _, x := range []*api.Client{ca, cb} {
		agenttest.Eventually(t, 15*time.Second, func() (bool, string) {
			insts, _, err := x.Service(ctx, "db", api.QueryOptions{})
			return err == nil && len(insts) == 1 && insts[0].Stale, fmt.Sprintf("%+v, %v", insts, err)
		})
	}
	start := time.Now()
	if err := ca.ForceLeave(ctx, "node-c"); err != nil {
		t.Fatalf("force-leave: %v", err)
	}
	for _, x := range []*agent.Agent{a, b} {
		x := x
		// Deadlines, not expectations: the time taken is logged below; a
		// loaded 2-core machine under -race may need several seconds.
		waitIDs(t, agenttest.Client(t, x), "db", 15*time.Second)
		agenttest.Eventually(t, 15*time.Second, func() (bool, string) {
			for _, m := range x.Members() {
				if m.Name == "node-c" {
					return m.Status == api.MemberLeft, fmt.Sprintf("node-c is %s at %s", m.Status, x.Config().Node)
				}
			}
			return false, "node-c not listed"
		})
	}
	t.Logf("force-leave withdrew node-c's records everywhere in %v", time.Since(start))
}

// The cluster view's routes take the policies docs/http.md states: reads need
// read, join and force-leave operator; the console's files need nothing.
func TestClusterRoutesPolicies(t *testing.T) {
	t.Parallel()
	_, _, base := single(t, func(c *agent.Config) { c.ACL = aclConfig("deny") })
	tr := http.DefaultTransport.(*http.Transport).Clone()
	t.Cleanup(tr.CloseIdleConnections)
	hc := &http.Client{Transport: tr}
	tests := []struct {
		method, path, body, token string
		code                      int
	}{
		{"GET", "/v1/agent/checks", "", "", http.StatusUnauthorized},
		{"GET", "/v1/agent/checks", "", secRead, http.StatusOK},
		{"GET", "/v1/agent/agreement", "", "", http.StatusUnauthorized},
		{"GET", "/v1/agent/agreement", "", secRead, http.StatusOK},
		{"GET", "/v1/stream", "", "", http.StatusUnauthorized},
		{"PUT", "/v1/agent/join", `{"addresses":["127.0.0.1:1"]}`, secRead, http.StatusForbidden},
		{"PUT", "/v1/agent/join", `{"addresses":["127.0.0.1:1"]}`, secWeb, http.StatusForbidden},
		{"PUT", "/v1/agent/join", `{"addresses":[]}`, secOper, http.StatusBadRequest},
		{"PUT", "/v1/agent/force-leave/node-zz", "", "", http.StatusUnauthorized},
		{"PUT", "/v1/agent/force-leave/node-zz", "", secRead, http.StatusForbidden},
		{"PUT", "/v1/agent/force-leave/node-zz", "", secOper, http.StatusNotFound},
		{"PUT", "/v1/agent/force-leave/node-a", "", secOper, http.StatusConflict},
		{"GET", "/ui", "", "", http.StatusOK},
		{"GET", "/ui/app.js", "", "", http.StatusOK},
	}
	for _, tt := range tests {
		req, err := http.NewRequestWithContext(t.Context(), tt.method, base+tt.path, strings.NewReader(tt.body))
		if err != nil {
			t.Fatal(err)
		}
		if tt.token != "" {
			req.Header.Set("Authorization", "Bearer "+tt.token)
		}
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tt.code {
			t.Errorf("%s %s with %q: %d, want %d", tt.method, tt.path, tt.token, resp.StatusCode, tt.code)
		}
	}
}

func TestSelfWarnings(t *testing.T) {
	t.Parallel()
	a, _, _ := single(t, func(c *agent.Config) { c.DataDir = "" })
	if w := a.Self().Warnings; len(w) != 1 || !strings.Contains(w[0], "No data directory") {
		t.Errorf("warnings %q", w)
	}
	b, _, _ := single(t)
	if w := b.Self().Warnings; len(w) != 0 {
		t.Errorf("warnings with a data dir on loopback: %q", w)
	}
}
