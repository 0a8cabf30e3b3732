package probe

import (
	"testing"
	"testing/synctest"
	"time"
)

// States reports every check with its type, schedule and streaks.
func TestStates(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rc := &recorder{}
		s := &script{results: []Status{Critical, Critical, Critical}}
		r := newScripted(t, rc, map[string]*script{"b": s})
		defer r.Close()
		if err := r.Add("inst-1", Check{ID: "a", Type: TTL, TTL: time.Minute}); err != nil {
			t.Fatal(err)
		}
		if err := r.Add("inst-2", tcpCheck("b")); err != nil {
			t.Fatal(err)
		}
		if err := r.UpdateTTL("a", Warning, "slow"); err != nil {
			t.Fatal(err)
		}
		time.Sleep(25 * time.Second)
		synctest.Wait()
		got := r.States()
		if len(got) != 2 {
			t.Fatalf("States = %+v", got)
		}
		a, b := got[0], got[1]
		if a.CheckID != "a" || a.Owner != "inst-1" || a.Type != TTL || a.TTL != time.Minute || a.Status != Warning || a.Output != "slow" || a.Successes != 0 || a.Failures != 0 {
			t.Errorf("ttl check state %+v", a)
		}
		if b.CheckID != "b" || b.Owner != "inst-2" || b.Type != TCP || b.Interval != 10*time.Second || b.Status != Critical || b.Failures != 3 || b.Successes != 0 || b.Time.IsZero() {
			t.Errorf("tcp check state %+v", b)
		}
	})
}
