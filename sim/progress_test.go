package sim

import (
	"testing"
	"time"
)

func TestProgressLine(t *testing.T) {
	tests := []struct {
		name string
		set  func(p *Progress)
		want string
	}{
		{"starting", func(p *Progress) {
			p.setStep(-1, "start")
			p.setPhase("node 120/1000")
			p.update(1500*time.Millisecond, 120, 120, 0)
		}, "simulated 1.5s, starting (node 120/1000), 120/120 nodes live, 0 violations"},
		{"settling", func(p *Progress) {
			p.setStep(-1, "start")
			p.setPhase("settling 7/999")
		}, "simulated 0s, starting (settling 7/999), 0/0 nodes live, 0 violations"},
		{"a step clears the phase", func(p *Progress) {
			p.setStep(-1, "start")
			p.setPhase("waiting for full membership")
			p.setSteps(4)
			p.setStep(2, "wait")
			p.update(30*time.Second, 999, 1000, 2)
		}, "simulated 30s, step 3/4 wait, 999/1000 nodes live, 2 violations"},
		{"no phase", func(p *Progress) {
			p.setSteps(4)
			p.setStep(0, "start")
			p.setPhase("node 1/2")
			p.setPhase("")
		}, "simulated 0s, step 1/4 start, 0/0 nodes live, 0 violations"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := &Progress{}
			tt.set(p)
			if got := p.Snapshot().String(); got != tt.want {
				t.Errorf("got  %q\nwant %q", got, tt.want)
			}
		})
	}
	var nilP *Progress // a run without Options.Progress
	nilP.setPhase("x")
}
