package main

import (
	"bytes"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/grapevine-sd/grapevine/api"
)

// e2eClusterConfig keeps a failed agent's records (stale) far longer than the
// test, so only force-leave can withdraw them, and turns self-preservation off.
const e2eClusterConfig = e2eGossip + `
leases:
  grace: 10m
  mass_failure_fraction: 1.0
`

// Real agent processes: fingerprints in the gossip metadata agree at every
// agent for every member once the catalogs converge (grapevine members shows
// it), grapevine join adds an agent at run time, grapevine force-leave
// withdraws a killed agent's records everywhere at once.
func TestEndToEndFingerprintJoinForceLeave(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test builds and runs agent processes")
	}
	dir := t.TempDir()
	bin := buildBinary(t, dir)
	config := writeAgentConfig(t, dir, e2eClusterConfig)
	var agents []*e2eAgent
	clients := map[string]*api.Client{}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	t.Cleanup(tr.CloseIdleConnections)
	for _, name := range []string{"a", "b", "c"} {
		agents = append(agents, &e2eAgent{name: "node-" + name, dataDir: filepath.Join(dir, name)})
	}
	A, B, C := agents[0], agents[1], agents[2]
	A.start(t, bin, config, nil)
	B.start(t, bin, config, []string{A.gossip})
	C.start(t, bin, config, nil) // alone until grapevine join
	for _, ag := range agents {
		c, err := api.NewClient(api.ClientConfig{Address: ag.http, HTTPClient: &http.Client{Transport: tr}, Timeout: 5 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		clients[ag.name] = c
	}
	ctx := t.Context()
	cli := func(want int, args ...string) string {
		t.Helper()
		var out, errb bytes.Buffer
		if code := run(append([]string{"grapevine"}, args...), &out, &errb); code != want {
			t.Fatalf("grapevine %v: exit %d, want %d; stderr %s", args, code, want, errb.String())
		}
		return out.String()
	}
	poll(t, 15*time.Second, "C's API up", func() (bool, string) {
		_, err := clients[C.name].Self(ctx)
		return err == nil, fmt.Sprint(err)
	})
	if out := cli(exitOK, "join", "-http", C.http, A.gossip); !strings.Contains(out, "contacted 1 of 1") {
		t.Errorf("grapevine join: %q", out)
	}
	for i, ag := range agents {
		poll(t, 15*time.Second, "registration", func() (bool, string) {
			_, err := clients[ag.name].Register(ctx, api.Registration{ID: fmt.Sprintf("web-%d", i), Name: "web", Port: 8080 + i})
			return err == nil, fmt.Sprint(err)
		})
	}
	start := time.Now()
	poll(t, 20*time.Second, "fingerprints agree everywhere", func() (bool, string) {
		want := ""
		for _, ag := range agents {
			s, err := clients[ag.name].Self(ctx)
			if err != nil {
				return false, err.Error()
			}
			if want == "" {
				want = s.Catalog.Hash
			}
			if s.Catalog.Hash != want || !s.Agreement.Converged || s.Agreement.Agree != 3 {
				return false, fmt.Sprintf("%s: hash %s (want %s), agreement %+v", ag.name, s.Catalog.Hash, want, s.Agreement)
			}
			ms, err := clients[ag.name].Members(ctx)
			if err != nil {
				return false, err.Error()
			}
			for _, m := range ms {
				if m.Fingerprint == nil || m.Fingerprint.Hash != want || m.Fingerprint.Instances != 3 || m.Agrees == nil || !*m.Agrees || m.Version == "" {
					return false, fmt.Sprintf("%s sees %s: %+v", ag.name, m.Name, m)
				}
			}
		}
		return true, ""
	})
	t.Logf("fingerprints agree at every agent %v after the last registration", time.Since(start).Round(time.Millisecond))
	out := cli(exitOK, "members", "-http", B.http)
	if strings.Count(out, " yes\n") != 3 {
		t.Errorf("grapevine members at B:\n%s", out)
	}
	r, err := http.Get("http://" + A.http + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	var body bytes.Buffer
	body.ReadFrom(r.Body)
	r.Body.Close()
	if !strings.Contains(body.String(), "grapevine_cluster_agreement_ratio 1\n") {
		t.Error("A's metrics lack grapevine_cluster_agreement_ratio 1")
	}

	// Kill C: a live member cannot be forced out; a failed one can, and its
	// record leaves A's and B's lookups at once (the lease grace is 10 min).
	cli(exitFailure, "force-leave", "-http", A.http, C.name)
	if err := C.stop(t, syscall.SIGKILL); err == nil {
		t.Fatal("SIGKILL: exit status 0")
	}
	poll(t, 30*time.Second, "C failed at A and B, its record stale", func() (bool, string) {
		for _, ag := range agents[:2] {
			insts, _, err := clients[ag.name].Service(ctx, "web", api.QueryOptions{})
			if err != nil {
				return false, err.Error()
			}
			if in, ok := byNode(insts, C.name); !ok || !in.Stale {
				return false, fmt.Sprintf("at %s: %v", ag.name, nodesOf(insts))
			}
		}
		return true, ""
	})
	forced := time.Now()
	cli(exitOK, "force-leave", "-http", A.http, C.name)
	poll(t, 15*time.Second, "C's record withdrawn and C left at A and B", func() (bool, string) {
		for _, ag := range agents[:2] {
			insts, _, err := clients[ag.name].Service(ctx, "web", api.QueryOptions{Health: api.HealthAny})
			if err != nil {
				return false, err.Error()
			}
			if _, ok := byNode(insts, C.name); ok {
				return false, fmt.Sprintf("at %s: %v", ag.name, nodesOf(insts))
			}
			ms, err := clients[ag.name].Members(ctx)
			if err != nil {
				return false, err.Error()
			}
			for _, m := range ms {
				if m.Name == C.name && m.Status != api.MemberLeft {
					return false, fmt.Sprintf("%s sees %s %s", ag.name, m.Name, m.Status)
				}
			}
		}
		return true, ""
	})
	t.Logf("force-leave withdrew node-c's record at A and B in %v", time.Since(forced).Round(time.Millisecond))
}
