//go:build simfull

package sim

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"testing/synctest"
	"text/tabwriter"
	"time"
)

// TestConvergenceSeeds is G1's figure: the 50/50 partition of 100 agents for 60 s,
// healed, over 20 seeds (GRAPEVINE_SEEDS overrides the count); it prints the time
// from heal to identical catalog hashes everywhere, p50/p99/max, and fails if any
// run breaks an invariant or misses the target (rejoin interval + 3 s).
func TestConvergenceSeeds(t *testing.T) {
	n := 20
	if s, err := strconv.Atoi(os.Getenv("GRAPEVINE_SEEDS")); err == nil && s > 0 {
		n = s
	}
	sc, err := Load(filepath.Join("scenarios", "partition-50-50.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	cfg := DefaultAgentConfig()
	target := cfg.Gossip.RejoinInterval + 3*time.Second
	var conv []time.Duration
	w := tabwriter.NewWriter(os.Stdout, 2, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(w, "seed\theal→converged\tpropagation p99\tinvariants\twall\t\n")
	for seed := uint64(1); seed <= uint64(n); seed++ {
		var rep Report
		var runErr error
		wall := time.Now()
		synctest.Test(t, func(t *testing.T) {
			var log bytes.Buffer
			rep, runErr = Run(context.Background(), sc, Options{
				Seed: seed, Factory: NewAgentFactory(cfg), ScenarioBounds: AgentScenarioBounds(cfg), Log: &log,
				DataDir: t.TempDir(), Drain: 30 * time.Second,
			})
		})
		if runErr != nil {
			t.Fatalf("seed %d: %v", seed, runErr)
		}
		verdict := "pass"
		if !rep.Passed() {
			verdict = "FAIL"
			var b bytes.Buffer
			_ = rep.WriteText(&b)
			t.Errorf("seed %d: invariants failed:\n%s", seed, b.String())
		}
		c := time.Duration(-1)
		if len(rep.Convergence) > 0 {
			c = rep.Convergence[0]
			conv = append(conv, c)
		}
		fmt.Fprintf(w, "%d\t%v\t%v\t%s\t%v\t\n", seed, c.Round(time.Millisecond), rep.Propagation.P99.Round(time.Millisecond), verdict, time.Since(wall).Round(time.Second))
	}
	w.Flush()
	if len(conv) == 0 {
		t.Fatal("no convergence measured")
	}
	slices.Sort(conv)
	q := func(p float64) time.Duration { return conv[min(len(conv)-1, int(p*float64(len(conv))))] }
	fmt.Printf("\nG1, %d agents split 50/50 for 60 s, %d seeds: heal→converged p50 %v, p99 %v, max %v (target ≤ %v)\n",
		sc.Nodes, len(conv), q(0.5).Round(time.Millisecond), q(0.99).Round(time.Millisecond), conv[len(conv)-1].Round(time.Millisecond), target)
	if conv[len(conv)-1] > target {
		t.Errorf("max convergence %v over the target %v", conv[len(conv)-1], target)
	}
}

// TestScenarioSeeds runs library scenarios at full size over many seeds and
// prints one verdict per seed: GRAPEVINE_SCENARIOS names them (a glob of
// file names without .yaml, default the scenarios of the product bugs of
// issue 10, epoch-* and joiner-*), GRAPEVINE_SEEDS the seed count (default
// 20). It fails if any run fails, known bugs included: it measures, it does
// not excuse.
func TestScenarioSeeds(t *testing.T) {
	n := 20
	if s, err := strconv.Atoi(os.Getenv("GRAPEVINE_SEEDS")); err == nil && s > 0 {
		n = s
	}
	globs := []string{"epoch-*", "joiner-*"}
	if g := os.Getenv("GRAPEVINE_SCENARIOS"); g != "" {
		globs = strings.Split(g, ",")
	}
	var files []string
	for _, g := range globs {
		m, _ := filepath.Glob(filepath.Join("scenarios", g+".yaml"))
		files = append(files, m...)
	}
	if len(files) == 0 {
		t.Fatalf("no scenario matches %v", globs)
	}
	cfg := DefaultAgentConfig()
	w := tabwriter.NewWriter(os.Stdout, 2, 4, 2, ' ', 0)
	fmt.Fprintf(w, "scenario\tpassed\tfailed seeds (invariants)\t\n")
	for _, f := range files {
		sc, err := Load(f)
		if err != nil {
			t.Fatal(err)
		}
		var failed []string
		for seed := uint64(1); seed <= uint64(n); seed++ {
			var rep Report
			var runErr error
			synctest.Test(t, func(t *testing.T) {
				rep, runErr = Run(context.Background(), sc, Options{
					Seed: seed, Factory: NewAgentFactory(cfg), ScenarioBounds: AgentScenarioBounds(cfg),
					DataDir: t.TempDir(), Drain: 30 * time.Second,
				})
			})
			if runErr != nil {
				t.Fatalf("%s seed %d: %v", sc.Name, seed, runErr)
			}
			if !rep.Passed() {
				var bad []string
				for _, inv := range rep.Invariants {
					if !inv.Passed() {
						bad = append(bad, strings.Fields(inv.Name)[0])
					}
				}
				failed = append(failed, fmt.Sprintf("%d(%s)", seed, strings.Join(bad, ",")))
			}
		}
		fmt.Fprintf(w, "%s\t%d/%d\t%s\t\n", sc.Name, n-len(failed), n, strings.Join(failed, " "))
		if len(failed) > 0 {
			t.Errorf("%s: %d of %d seeds failed", sc.Name, len(failed), n)
		}
	}
	w.Flush()
}
