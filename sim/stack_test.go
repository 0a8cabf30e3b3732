package sim

import (
	"bytes"
	"context"
	"testing"
	"testing/synctest"
	"time"
)

// runStack runs a scenario over real agents in a synctest bubble.
func runStack(t *testing.T, sc Scenario, mustPass bool) Report {
	t.Helper()
	rep, _ := runStackLog(t, sc, mustPass)
	return rep
}

// runStackLog is runStack that also returns the run's log.
func runStackLog(t *testing.T, sc Scenario, mustPass bool) (Report, string) {
	t.Helper()
	var rep Report
	var err error
	var log bytes.Buffer
	cfg := DefaultAgentConfig()
	wall := time.Now()
	synctest.Test(t, func(t *testing.T) {
		rep, err = Run(context.Background(), sc, Options{
			Factory: NewAgentFactory(cfg), ScenarioBounds: AgentScenarioBounds(cfg), Log: &log,
			DataDir: t.TempDir(), Drain: 30 * time.Second,
		})
	})
	if err != nil {
		t.Fatalf("Run: %v\nlog:\n%s", err, log.String())
	}
	var b bytes.Buffer
	_ = rep.WriteText(&b)
	t.Logf("wall %v\n%s\nlog:\n%s", time.Since(wall).Round(time.Millisecond), b.String(), log.String())
	if mustPass && !rep.Passed() {
		t.Errorf("invariants failed")
	}
	return rep, log.String()
}

func TestAgentBasic(t *testing.T) {
	sc, err := Parse([]byte(basicScenario))
	if err != nil {
		t.Fatal(err)
	}
	runStack(t, sc, true)
}
