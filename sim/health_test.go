package sim

import (
	"testing"
	"time"
)

func TestHealthFalseDeaths(t *testing.T) {
	t0 := time.Unix(1000, 0)
	h := newHealth(t0, 10*time.Second)
	healthy := func(subject, _ string) bool { return subject != "n9" } // n9 is down
	at := func(d time.Duration) time.Time { return t0.Add(d) }

	h.event(MemberEvent{EventSuspect, "n1", "n2"}, at(20*time.Second), healthy)
	h.event(MemberEvent{EventRefute, "n2", "n1"}, at(20*time.Second), healthy)
	h.event(MemberEvent{EventFailed, "n1", "n9"}, at(20*time.Second), healthy) // really down
	h.event(MemberEvent{EventFailed, "n1", "n2"}, at(21*time.Second), healthy) // false
	h.event(MemberEvent{EventFailed, "n3", "n2"}, at(22*time.Second), healthy) // same episode
	h.trouble("n4", at(25*time.Second))
	h.event(MemberEvent{EventFailed, "n1", "n4"}, at(30*time.Second), healthy) // n4 just had a fault

	owned := func(n string) []instKey { return []instKey{{n, "web-0"}} }
	svc := func(instKey) string { return "web" }
	live := map[string]bool{"n1": true, "n2": true, "n3": true}
	web := func(nodes ...string) map[string][]Seen {
		var out []Seen
		for _, n := range nodes {
			out = append(out, Seen{ID: "web-0", Node: n})
		}
		return map[string][]Seen{"web": out}
	}
	// n1 and n3 hold n2 failed; n1 no longer serves its instance.
	h.observe(at(23*time.Second), map[string]map[string]bool{"n1": {"n2": false}, "n3": {"n2": false}}, live,
		map[string]map[string][]Seen{"n1": web("n1", "n3"), "n3": web("n1", "n2", "n3")}, owned, svc)
	h.observe(at(40*time.Second), map[string]map[string]bool{"n1": {"n2": true}, "n3": {"n2": true}}, live, nil, owned, svc)

	var rep Report
	h.report(&rep, at(60*time.Second))
	if rep.Suspicions != 1 || rep.Refutations != 1 || rep.Deaths != 4 {
		t.Errorf("suspicions %d refutations %d deaths %d, want 1 1 4", rep.Suspicions, rep.Refutations, rep.Deaths)
	}
	if len(rep.FalseDeaths) != 1 {
		t.Fatalf("false deaths %+v, want one (n2)", rep.FalseDeaths)
	}
	fd := rep.FalseDeaths[0]
	if fd.Node != "n2" || fd.By != "n1" || fd.At != 21*time.Second || fd.Lasted != 19*time.Second || fd.Observers != 2 || fd.Withdrawn != 1 || fd.Open {
		t.Errorf("false death %+v", fd)
	}
	if rep.PrematureWithdrawals != 1 {
		t.Errorf("premature withdrawals %d, want 1", rep.PrematureWithdrawals)
	}
}

func TestHealthPreservation(t *testing.T) {
	t0 := time.Unix(1000, 0)
	h := newHealth(t0, time.Second)
	h.preservation(t0.Add(time.Second), map[string]bool{"n1": true})
	h.preservation(t0.Add(2*time.Second), map[string]bool{"n1": true, "n2": true})
	h.preservation(t0.Add(5*time.Second), map[string]bool{"n2": true})
	var rep Report
	h.report(&rep, t0.Add(9*time.Second))
	want := []PreservationSpan{{"n1", time.Second, 5 * time.Second, false}, {"n2", 2 * time.Second, 9 * time.Second, true}}
	if len(rep.Preservation) != 2 || rep.Preservation[0] != want[0] || rep.Preservation[1] != want[1] {
		t.Errorf("spans %+v, want %+v", rep.Preservation, want)
	}
}
