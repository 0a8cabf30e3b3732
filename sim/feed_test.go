package sim

import (
	"context"
	"testing"
	"testing/synctest"
	"time"

	"github.com/grapevine-sd/grapevine/sim/simnet"
)

// TestCheckerFeedTimes: with change feeds the propagation time is the last
// observer's feed time, not the sample's, and feed drop-outs are counted.
func TestCheckerFeedTimes(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	ms := func(n int) time.Time { return t0.Add(time.Duration(n) * time.Millisecond) }
	c := newChecker(t0, DefaultBounds)
	gens := map[string]uint64{}
	for _, obs := range []string{"n0", "n1", "n2"} {
		gens[obs] = c.startFeed(obs)
	}
	web := func(h string) ServedChange {
		return ServedChange{Service: "web", Seen: Seen{ID: "web-0", Node: "n0", Health: h}}
	}
	// The owner's feed runs ahead of the acknowledgement.
	c.served("n0", gens["n0"], true, nil, ms(0))
	c.served("n0", gens["n0"], false, []ServedChange{web("passing")}, ms(10))
	c.served("n1", gens["n1"], true, nil, ms(0))
	c.registered("n0", Registration{ID: "web-0", Service: "web", Health: "passing"}, ms(10))
	c.served("n1", gens["n1"], false, []ServedChange{web("passing")}, ms(13))
	c.served("n2", gens["n2"], true, []ServedChange{web("passing")}, ms(27)) // first full state, late
	// A late call of an earlier incarnation changes nothing.
	c.served("n2", gens["n2"]-1, false, []ServedChange{{Service: "web", Seen: web("passing").Seen, Deleted: true}}, ms(28))

	live := map[string]bool{"n0": true, "n1": true, "n2": true}
	answers := map[string]map[string][]Seen{}
	for obs := range live {
		answers[obs] = map[string][]Seen{"web": {web("passing").Seen}}
	}
	c.observe(sample{at: ms(1000), seq: c.opSeqNow(), answers: answers, hashes: map[string]uint64{}, live: live, n: 3})
	if c.pending() != 0 {
		t.Fatalf("change still pending after every observer reflected it")
	}
	ch := c.chs[0]
	if got, want := ch.done, 17*time.Millisecond; got != want {
		t.Errorf("propagation %v, want %v (last feed time, not the sample's)", got, want)
	}
	if got, want := ch.seenBy["n0"], time.Duration(0); got != want {
		t.Errorf("owner seen after %v, want %v", got, want)
	}
	if ch.sampled {
		t.Error("change marked sampled though every observer has a feed")
	}

	// A health change; n1's feed is dropped and resynchronised.
	c.healthSet(instKey{"n0", "web-0"}, "critical", ms(2000))
	c.served("n0", gens["n0"], false, []ServedChange{web("critical")}, ms(2000))
	c.served("n2", gens["n2"], false, []ServedChange{web("critical")}, ms(2004))
	c.served("n1", gens["n1"], true, []ServedChange{web("critical")}, ms(2050))
	for obs := range live {
		answers[obs] = map[string][]Seen{"web": {web("critical").Seen}}
	}
	c.observe(sample{at: ms(3000), seq: c.opSeqNow(), answers: answers, hashes: map[string]uint64{}, live: live, n: 3})
	if got, want := c.chs[1].done, 50*time.Millisecond; got != want {
		t.Errorf("propagation after resync %v, want %v", got, want)
	}
	if c.dropouts != 1 {
		t.Errorf("drop-outs %d, want 1", c.dropouts)
	}

	// An observer without a feed is timed by the sample.
	c.unfeed("n2")
	c.deregistered(instKey{"n0", "web-0"}, ms(4000), "deregister")
	c.served("n0", gens["n0"], false, []ServedChange{{Service: "web", Seen: web("critical").Seen, Deleted: true}}, ms(4000))
	c.served("n1", gens["n1"], false, []ServedChange{{Service: "web", Seen: web("critical").Seen, Deleted: true}}, ms(4003))
	for obs := range live {
		answers[obs] = map[string][]Seen{"web": nil}
	}
	c.observe(sample{at: ms(4100), seq: c.opSeqNow(), answers: answers, hashes: map[string]uint64{}, live: live, n: 3})
	if got, want := c.chs[2].done, 100*time.Millisecond; got != want || !c.chs[2].sampled {
		t.Errorf("propagation %v (sampled %v), want %v sampled", got, c.chs[2].sampled, want)
	}
}

// TestAgentWatch: the agent adapter's feed delivers the full state, then each
// change, and Close stops its goroutine (synctest fails otherwise).
func TestAgentWatch(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		nw, err := simnet.New(simnet.DefaultConfig())
		if err != nil {
			t.Fatal(err)
		}
		cl := &cluster{net: nw, factory: NewAgentFactory(DefaultAgentConfig()), dir: t.TempDir()}
		defer cl.net.Close()
		if _, err := cl.addHosts(1, nil); err != nil {
			t.Fatal(err)
		}
		if err := cl.start(context.Background(), 0); err != nil {
			t.Fatal(err)
		}
		n := cl.host(0).node
		type call struct {
			full bool
			chs  []ServedChange
		}
		calls := make(chan call, 16)
		n.(ChangeWatcher).Watch(func(full bool, chs []ServedChange) { calls <- call{full, chs} })
		if c := <-calls; !c.full || len(c.chs) != 0 {
			t.Fatalf("first call %+v, want an empty full state", c)
		}
		if err := n.Register(context.Background(), Registration{ID: "web-0", Service: "web", Address: "10.0.0.1", Port: 80, Health: "passing"}); err != nil {
			t.Fatal(err)
		}
		if c := <-calls; c.full || len(c.chs) != 1 || c.chs[0].Deleted || c.chs[0].Seen.ID != "web-0" || c.chs[0].Seen.Node != "n0" {
			t.Errorf("after register: %+v", c)
		}
		if err := n.Deregister(context.Background(), "web-0"); err != nil {
			t.Fatal(err)
		}
		if c := <-calls; c.full || len(c.chs) != 1 || !c.chs[0].Deleted {
			t.Errorf("after deregister: %+v", c)
		}
		if err := n.Close(); err != nil {
			t.Fatal(err)
		}
		if err := n.Close(); err != nil {
			t.Errorf("second Close: %v", err)
		}
		time.Sleep(30 * time.Second) // memberlist's in-flight timers
	})
}

// TestCheckerRemovalInFlight: a sample that reads the owner after it removed
// an instance but before the removal is acknowledged is not a lost
// registration; the same absence outside a removal is. (Found by CI: the
// sampler and a deregister step ran at the same virtual instant.)
func TestCheckerRemovalInFlight(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	c := newChecker(t0, DefaultBounds)
	c.registered("n0", Registration{ID: "web-0", Service: "web", Health: "passing"}, t0)
	live := map[string]bool{"n0": true}
	empty := map[string]map[string][]Seen{"n0": {"web": nil}}

	c.beginRemoval()
	c.observe(sample{at: t0.Add(time.Second), seq: c.opSeqNow(), answers: empty, hashes: map[string]uint64{}, live: live, n: 1, removing: true})
	if n := c.counts[G2]; n != 0 {
		t.Fatalf("G2 violations during an unacknowledged removal: %d", n)
	}
	c.endRemoval()
	if gen, busy := c.removalState(); gen != 1 || busy {
		t.Fatalf("removalState = %d, %v; want 1, false", gen, busy)
	}
	c.observe(sample{at: t0.Add(2 * time.Second), seq: c.opSeqNow(), answers: empty, hashes: map[string]uint64{}, live: live, n: 1})
	if n := c.counts[G2]; n != 1 {
		t.Fatalf("G2 violations for an owner that lost its instance: %d, want 1", n)
	}
}
