package agent_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/grapevine-sd/grapevine/agent"
	"github.com/grapevine-sd/grapevine/agent/agenttest"
	"github.com/grapevine-sd/grapevine/api"
	"github.com/hashicorp/memberlist"
	"github.com/rs/zerolog"
)

// keyedConfig is an agenttest config with gossip encrypted by key, and SWIM
// timers tolerant enough (1 s probe timeout, at least 12 s to a failure;
// agenttest's fast timers declare one within half a second) that a loaded
// 2-core machine running -race does not declare false failures, which would
// blur what these tests check: that a rotation or an attack loses nobody.
func keyedConfig(t *testing.T, name string, key []byte) agent.Config {
	cfg := agenttest.Config(t, name)
	cfg.InsecureGossip = false
	cfg.Encrypt = base64.StdEncoding.EncodeToString(key)
	cfg.Gossip.Tune = func(c *memberlist.Config) {
		agenttest.FastTimers(c)
		c.ProbeInterval, c.ProbeTimeout, c.SuspicionMult = 2*time.Second, time.Second, 6
	}
	return cfg
}

// A key rotation through /v1/operator/keyring on five live agents while
// registrations churn: every step reaches 5/5 agents, no member is lost, no
// registration is lost, and an agent restarted with its old configuration
// comes back with the rotated key (kept in its data_dir).
func TestKeyringRotationUnderChurn(t *testing.T) {
	oldKey, newKey := bytes.Repeat([]byte{0x11}, 32), bytes.Repeat([]byte{0x22}, 32)
	const n = 5
	var as []*agent.Agent
	var cfgs []agent.Config
	for i := range n {
		cfg := keyedConfig(t, fmt.Sprintf("node-%c", 'a'+i), oldKey)
		if f := os.Getenv("KEYRING_TEST_LOG"); f != "" {
			w, _ := os.OpenFile(f, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
			cfg.Logger = zerolog.New(w).Level(zerolog.DebugLevel).With().Timestamp().Str("agent", cfg.Node).Logger()
		}
		if i > 0 {
			cfg.Join = []string{agenttest.GossipAddr(t, as[0])}
		}
		cfgs = append(cfgs, cfg)
		as = append(as, agenttest.Start(t, cfg))
	}
	cs := make([]*api.Client, n)
	for i, a := range as {
		cs[i] = agenttest.Client(t, a)
		if _, err := cs[i].Register(t.Context(), api.Registration{Name: "web", ID: "web-" + a.Config().Node, Port: 8000 + i}); err != nil {
			t.Fatal(err)
		}
	}
	allWeb := func() []string {
		var want []string
		for _, a := range as {
			want = append(want, a.Config().Node+"/web-"+a.Config().Node)
		}
		return want
	}
	for i, c := range cs {
		waitIDs(t, c, "web", 15*time.Second, allWeb()...)
		agenttest.Eventually(t, 15*time.Second, func() (bool, string) {
			s := as[i].Self()
			return s.Members.Alive == n, fmt.Sprintf("%s sees %+v", s.Node, s.Members)
		})
	}

	// Churn: every agent keeps registering and deregistering while the
	// keys rotate; what it registers last is checked everywhere afterwards.
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for i, c := range cs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := 0; ; k++ {
				select {
				case <-stop:
					return
				case <-time.After(20 * time.Millisecond):
				}
				id := fmt.Sprintf("churn-%d", k%3)
				if k%2 == 0 {
					_, _ = c.Register(context.Background(), api.Registration{Name: "churn", ID: id, Port: 9000 + i})
				} else {
					_ = c.Deregister(context.Background(), id)
				}
			}
		}()
	}
	// Membership is sampled all along: nobody may drop out.
	var lost []string
	var lostMu sync.Mutex // guards lost
	phase := "churn"
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			case <-time.After(50 * time.Millisecond):
			}
			for _, a := range as {
				if s := a.Self(); s.Members.Alive+s.Members.Suspect != n { // suspect (a probe unanswered under load) is still a member
					lostMu.Lock()
					lost = append(lost, fmt.Sprintf("%s saw %+v during %s", s.Node, s.Members, phase))
					lostMu.Unlock()
				}
			}
		}
	}()

	b64 := base64.StdEncoding.EncodeToString
	step := func(at int, name string, call func(context.Context, string) ([]api.KeyringResponse, error), key []byte) api.KeyringResponse {
		t.Helper()
		lostMu.Lock()
		phase = name
		lostMu.Unlock()
		res, err := call(t.Context(), b64(key))
		if err != nil {
			t.Fatalf("%s at %s: %v", name, as[at].Config().Node, err)
		}
		if len(res) != 1 || !res[0].Complete() || res[0].NumNodes != n {
			for _, a := range as {
				t.Logf("%s: members %+v %+v rejected %v", a.Config().Node, a.Self().Members, a.Members(), a.Node().Stats().Rejected)
			}
			t.Fatalf("%s: %+v, want applied on %d/%d", name, res, n, n)
		}
		return res[0]
	}
	step(1, "install", cs[1].KeyringInstall, newKey)
	time.Sleep(300 * time.Millisecond) // let churn run across each step
	if r := step(2, "use", cs[2].KeyringUse, newKey); r.PrimaryKeys[b64(newKey)] != n {
		t.Errorf("after use: %+v", r)
	}
	time.Sleep(300 * time.Millisecond)
	if r := step(3, "remove", cs[3].KeyringRemove, oldKey); r.Keys[b64(oldKey)] != 0 || r.Keys[b64(newKey)] != n {
		t.Errorf("after remove: %+v", r)
	}
	time.Sleep(300 * time.Millisecond)
	close(stop)
	wg.Wait()
	if len(lost) > 0 {
		t.Errorf("members lost during the rotation (%d samples), first: %s", len(lost), lost[0])
	}
	// Nothing was sent that a peer could not decrypt at any point.
	for _, a := range as {
		if r := a.Node().Stats().Rejected; r["decrypt"] != 0 {
			t.Errorf("%s rejected %d messages it could not decrypt during the rotation", a.Config().Node, r["decrypt"])
		}
	}
	// No registration lost: every agent serves every web and the same catalog.
	for _, c := range cs {
		waitIDs(t, c, "web", 15*time.Second, allWeb()...)
	}
	agenttest.Eventually(t, 15*time.Second, func() (bool, string) {
		h := as[0].Self().Catalog.Hash
		for _, a := range as[1:] {
			if got := a.Self().Catalog.Hash; got != h {
				return false, fmt.Sprintf("%s hash %s, %s %s", as[0].Config().Node, h, a.Config().Node, got)
			}
		}
		return true, ""
	})

	// Removing the primary is refused with a clear error.
	_, err := cs[0].KeyringRemove(t.Context(), b64(newKey))
	var se *api.StatusError
	if !errors.As(err, &se) || se.Code != http.StatusConflict || !strings.Contains(se.Message, "primary") {
		t.Errorf("remove primary = %v, want 409 about the primary key", err)
	}

	// An agent restarted with its original (old-key) configuration uses the
	// rotated keyring from its data_dir and rejoins. It leaves first, so the
	// peers take it back at the new address its port 0 gets at once (its old
	// port, once closed, may be taken by any other socket of the machine).
	if err := as[4].Leave(t.Context()); err != nil {
		t.Fatal(err)
	}
	as[4].Close()
	back := agenttest.Start(t, cfgs[4])
	if got := back.Self().Gossip; got.Keys != 1 {
		t.Errorf("restarted agent gossip %+v", got)
	}
	// Every agent has it back, and a list reaches all five, each holding
	// only the rotated key. Polled: right after a restart under the same name
	// the membership may flap for a moment (a peer that still gossips the
	// old incarnation's leave marks it gone until it refutes).
	agenttest.Eventually(t, 30*time.Second, func() (bool, string) {
		for _, a := range append(as[:4:4], back) {
			if s := a.Self(); s.Members.Alive != n {
				return false, fmt.Sprintf("%s sees %+v after the restart", s.Node, s.Members)
			}
		}
		res, err := cs[0].KeyringList(t.Context())
		if err != nil || len(res) != 1 || res[0].NumNodes != n || res[0].Keys[b64(newKey)] != n || !slices.Equal(keysOf(res[0]), []string{b64(newKey)}) {
			return false, fmt.Sprintf("list after restart: %+v, %v", res, err)
		}
		return true, ""
	})
}

func keysOf(r api.KeyringResponse) []string {
	var out []string
	for k := range r.Keys {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
