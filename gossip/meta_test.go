package gossip_test

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/grapevine-sd/grapevine/gossip"
	"github.com/grapevine-sd/grapevine/sim/simnet"
	"github.com/hashicorp/memberlist"
)

// metaOf is member name's metadata as tn sees it ("" if not a member).
func metaOf(tn *tnode, name string) string {
	for _, m := range tn.node.Members() {
		if m.Name == name {
			return string(m.Meta)
		}
	}
	return ""
}

// A burst of metadata changes reaches every peer as its last value, in at most
// one broadcast per MetaInterval (plus the first).
func TestSetMetaRateLimited(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := newCluster(t, newNet(t, simnet.DefaultConfig()))
		group := c.start(4, func(cfg *gossip.Config) { cfg.MetaInterval = time.Second })
		waitFor(t, 30*time.Second, "membership", func() bool { return members(group, 4) })
		src := group[0]
		const changes, burst = 200, 5 * time.Second
		for i := range changes {
			if err := src.node.SetMeta(fmt.Appendf(nil, "v%d", i)); err != nil {
				t.Fatal(err)
			}
			time.Sleep(burst / changes)
		}
		if err := src.node.SetMeta([]byte("v199")); err != nil { // unchanged: no update
			t.Fatal(err)
		}
		took := waitFor(t, 30*time.Second, "last value everywhere", func() bool {
			for _, tn := range group {
				if metaOf(tn, src.name) != "v199" {
					return false
				}
			}
			return true
		})
		st := src.node.MetaStats()
		t.Logf("%d changes in %v: %d broadcasts; last value everywhere %v after the burst (virtual)", st.Changes, burst, st.Broadcasts, took)
		if st.Changes != changes {
			t.Errorf("changes: got %d, want %d", st.Changes, changes)
		}
		if max := uint64(burst/time.Second) + 2; st.Broadcasts > max || st.Broadcasts < 2 {
			t.Errorf("broadcasts: got %d, want 2..%d", st.Broadcasts, max)
		}
		if string(src.node.Meta()) != "v199" {
			t.Errorf("Meta: got %q", src.node.Meta())
		}
		c.close()
	})
}

func TestSetMetaTooLarge(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := newCluster(t, newNet(t, simnet.DefaultConfig()))
		tn := c.add(nil)
		if err := tn.node.SetMeta(make([]byte, memberlist.MetaMaxSize+1)); !errors.Is(err, gossip.ErrMetaTooLarge) {
			t.Errorf("got %v, want ErrMetaTooLarge", err)
		}
		if err := tn.node.SetMeta(make([]byte, memberlist.MetaMaxSize)); err != nil {
			t.Errorf("512 bytes: %v", err)
		}
		c.close()
	})
}

// ForceLeave turns a failed member into a left one on every node; a live
// member cannot be forced out, and a force-leave that reaches a node where
// the member is still alive leaves it a member there.
func TestForceLeave(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := newCluster(t, newNet(t, simnet.DefaultConfig()))
		var mu sync.Mutex
		got := map[string][]gossip.EventKind{} // "watcher/member" → kinds
		record := func(watcher string) func(*gossip.Config) {
			return func(cfg *gossip.Config) {
				cfg.Events = func(e gossip.Event) {
					mu.Lock()
					got[watcher+"/"+e.Member.Name] = append(got[watcher+"/"+e.Member.Name], e.Kind)
					mu.Unlock()
				}
			}
		}
		a := c.add(record("a"))
		b := c.add(record("b"))
		dead := c.add(nil)
		c.join(b, a)
		c.join(dead, a)
		waitFor(t, 30*time.Second, "membership", func() bool { return members(c.nodes, 3) })

		if err := a.node.ForceLeave(dead.name); !errors.Is(err, gossip.ErrMemberAlive) {
			t.Errorf("force-leave of a live member: got %v, want ErrMemberAlive", err)
		}
		if err := a.node.ForceLeave(a.name); !errors.Is(err, gossip.ErrMemberAlive) {
			t.Errorf("force-leave of self: got %v, want ErrMemberAlive", err)
		}
		if err := a.node.ForceLeave("nobody"); !errors.Is(err, gossip.ErrUnknownMember) {
			t.Errorf("force-leave of a stranger: got %v, want ErrUnknownMember", err)
		}

		dead.node.Close()
		waitFor(t, time.Minute, "failure detected", func() bool { return a.node.NumMembers() == 2 && b.node.NumMembers() == 2 })
		if err := a.node.ForceLeave(dead.name); err != nil {
			t.Fatalf("force-leave of a failed member: %v", err)
		}
		want := []gossip.EventKind{gossip.MemberJoin, gossip.MemberFail, gossip.MemberLeave}
		waitFor(t, 10*time.Second, "leave everywhere", func() bool {
			mu.Lock()
			defer mu.Unlock()
			return slices.Equal(got["a/"+dead.name], want) && slices.Equal(got["b/"+dead.name], want)
		})
		if err := a.node.ForceLeave(dead.name); !errors.Is(err, gossip.ErrUnknownMember) {
			t.Errorf("second force-leave: got %v, want ErrUnknownMember", err)
		}
		time.Sleep(5 * time.Second)
		mu.Lock()
		for _, w := range []string{"a", "b"} {
			if k := got[w+"/"+dead.name]; !slices.Equal(k, want) {
				t.Errorf("%s saw %v for the forced member, want %v", w, k, want)
			}
			if k := got[w+"/"+a.name]; slices.Contains(k, gossip.MemberLeave) || slices.Contains(k, gossip.MemberFail) {
				t.Errorf("%s saw %v for a live member", w, k)
			}
		}
		mu.Unlock()
		c.close()
	})
}

// A member whose probes go unanswered is listed suspect, with its failed
// probes counted, until SWIM declares it dead.
func TestFailedProbesMakeSuspect(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		nw := newNet(t, simnet.DefaultConfig())
		c := newCluster(t, nw)
		group := c.start(3, nil)
		waitFor(t, 30*time.Second, "membership", func() bool { return members(group, 3) })
		victim := group[2]
		nw.Crash(victim.addr)
		var seen gossip.Member
		waitFor(t, time.Minute, "a suspect", func() bool {
			for _, tn := range group[:2] {
				for _, m := range tn.node.Members() {
					if m.Name == victim.name && m.State == gossip.StateSuspect {
						seen = m
						return true
					}
				}
			}
			return false
		})
		if seen.ProbeFailures == 0 || seen.LastProbeFailure.IsZero() {
			t.Errorf("suspect member without counted failures: %+v", seen)
		}
		if group[0].node.ProbeFailures()+group[1].node.ProbeFailures() == 0 {
			t.Error("no failed probes counted")
		}
		waitFor(t, time.Minute, "declared dead", func() bool { return group[0].node.NumMembers() == 2 && group[1].node.NumMembers() == 2 })
		for _, tn := range group[:2] {
			for _, m := range tn.node.Members() {
				if m.State != gossip.StateAlive {
					t.Errorf("%s lists %s %v after the death", tn.name, m.Name, m.State)
				}
			}
		}
		victim.node.Close()
		c.close()
	})
}
