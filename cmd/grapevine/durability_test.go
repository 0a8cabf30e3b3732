package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/grapevine-sd/grapevine/api"
)

// TestAcknowledgedRegistrationsSurviveSIGKILL registers instances (each with
// a check) concurrently at a real agent process, kills it with SIGKILL as soon
// as the last acknowledgement arrives, restarts it on the same data
// directory, and finds every acknowledged registration back, checks
// included: an acknowledgement means the registration is on disk.
func TestAcknowledgedRegistrationsSurviveSIGKILL(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test builds and runs agent processes")
	}
	dir := t.TempDir()
	bin := buildBinary(t, dir)
	config := writeAgentConfig(t, dir, e2eGossip)
	ag := &e2eAgent{name: "node-a", dataDir: filepath.Join(dir, "a")}
	ag.start(t, bin, config, nil)
	tr := http.DefaultTransport.(*http.Transport).Clone()
	t.Cleanup(tr.CloseIdleConnections)
	ctx := t.Context()

	const rounds, n = 3, 40
	for round := range rounds {
		c, err := api.NewClient(api.ClientConfig{Address: ag.http, HTTPClient: &http.Client{Transport: tr}, Timeout: 10 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		poll(t, 15*time.Second, "agent up", func() (bool, string) {
			_, err := c.Self(ctx)
			return err == nil, fmt.Sprint(err)
		})
		var wg sync.WaitGroup
		errs := make(chan error, n)
		for i := range n {
			wg.Go(func() {
				reg := api.Registration{ID: fmt.Sprintf("web-%d-%02d", round, i), Name: "web", Port: 8000 + i}
				if err := reg.AddCheck(map[string]string{"id": reg.ID + "-ttl", "type": "ttl", "ttl": "1h"}); err != nil {
					errs <- err
					return
				}
				_, err := c.Register(ctx, reg)
				errs <- err
			})
		}
		wg.Wait()
		// The last acknowledgement is in: kill at once.
		if err := ag.stop(t, syscall.SIGKILL); err == nil {
			t.Fatal("SIGKILL: exit status 0")
		}
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatalf("round %d: register: %v", round, err)
			}
		}
		// Restart on fresh ports: the ones just released may be taken by
		// any other socket of the machine meanwhile (a single agent needs
		// no stable address).
		ag.gossip, ag.http, ag.dns = "", "", ""
		ag.start(t, bin, config, nil)
		want := (round + 1) * n
		poll(t, 15*time.Second, "registrations back after SIGKILL", func() (bool, string) {
			regs, err := agentRegistrations(t, ag.http)
			if err != nil {
				return false, err.Error()
			}
			if len(regs) != want {
				return false, fmt.Sprintf("%d registrations, want %d", len(regs), want)
			}
			for _, r := range regs {
				if len(r.Checks) != 1 {
					return false, fmt.Sprintf("%s has %d checks, want 1", r.ID, len(r.Checks))
				}
			}
			return true, ""
		})
	}
}

// agentRegistrations reads the agent's instances of service web with the
// IDs of their running checks (GET /v1/agent/checks).
func agentRegistrations(t *testing.T, httpAddr string) ([]struct {
	ID     string
	Checks []string
}, error) {
	insts, err := getJSON[[]api.Instance]("http://" + httpAddr + "/v1/services/web?health=any")
	if err != nil {
		return nil, err
	}
	checks, err := getJSON[[]api.CheckState]("http://" + httpAddr + "/v1/agent/checks")
	if err != nil {
		return nil, err
	}
	byOwner := map[string][]string{}
	for _, ch := range checks {
		byOwner[ch.Instance] = append(byOwner[ch.Instance], ch.ID)
	}
	var out []struct {
		ID     string
		Checks []string
	}
	for _, in := range insts {
		out = append(out, struct {
			ID     string
			Checks []string
		}{in.ID, byOwner[in.ID]})
	}
	return out, nil
}

func getJSON[T any](url string) (T, error) {
	var v T
	resp, err := http.Get(url)
	if err != nil {
		return v, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return v, fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return v, json.NewDecoder(resp.Body).Decode(&v)
}
