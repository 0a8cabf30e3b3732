package gossip_test

import (
	"fmt"
	"os"
	"slices"
	"testing"
	"testing/synctest"
	"text/tabwriter"
	"time"

	"github.com/grapevine-sd/grapevine/gossip"
)

// TestPropagationVirtual measures dissemination in virtual time: the same
// clusters as BenchmarkPropagation, but inside a synctest bubble, where CPU is
// free and only the links' latency counts — as when every agent has its own
// host. (In real time, 200 memberlist nodes share this machine's 2 cores and
// the tail measures the Go scheduler.) It is a measurement, not a check: it runs
// only with GRAPEVINE_BENCH=1 (make bench) and prints a table.
func TestPropagationVirtual(t *testing.T) {
	if os.Getenv("GRAPEVINE_BENCH") == "" {
		t.Skip("a measurement: set GRAPEVINE_BENCH=1 (make bench)")
	}
	const latency = 5 * time.Millisecond
	const changes = 100
	w := tabwriter.NewWriter(os.Stdout, 2, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(w, "nodes\tmode\tchanges\tp50\tp99\tmax\tp99 / link latency\t\n")
	for _, n := range []int{10, 50, 200} {
		for _, eager := range []bool{true, false} {
			mode := "eager"
			if !eager {
				mode = "piggyback only"
			}
			var took []time.Duration
			synctest.Test(t, func(t *testing.T) {
				nw, tns, _, a := benchCluster(t, n, latency, func(c *gossip.Config) {
					if !eager {
						c.Fanout = -1
					}
					c.SyncInterval = 0 // measure dissemination, not anti-entropy
				})
				for i := range changes {
					took = append(took, propagate(t, tns, a, i))
					time.Sleep(50 * time.Millisecond) // one change at a time
				}
				closeBench(t, nw, tns)
				time.Sleep(30 * time.Second) // memberlist's in-flight probes outlive Shutdown
			})
			slices.Sort(took)
			p := func(q float64) time.Duration { return took[int(q*float64(len(took)-1))] }
			fmt.Fprintf(w, "%d\t%s\t%d\t%v\t%v\t%v\t%.1f×\t\n", n, mode, len(took), p(0.5), p(0.99), took[len(took)-1], float64(p(0.99))/float64(latency))
		}
	}
	w.Flush()
}
