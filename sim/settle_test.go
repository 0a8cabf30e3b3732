package sim

import (
	"context"
	"maps"
	"regexp"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/grapevine-sd/grapevine/sim/simnet"
)

// joinRecorder wraps a Node with a Joiner that records, per step, who
// joined where.
type joinRecorder struct {
	Node
	rec *joinLog
}

type joinLog struct {
	prog  *Progress
	mu    sync.Mutex
	calls map[int][]string // step (-1: the scenario's start) → "n3>addr"
}

func (j joinRecorder) Join(_ context.Context, addrs []string) (int, error) {
	step := j.rec.prog.Snapshot().Step
	j.rec.mu.Lock()
	defer j.rec.mu.Unlock()
	for _, a := range addrs {
		j.rec.calls[step] = append(j.rec.calls[step], j.Name()+">"+a)
	}
	return len(addrs), nil
}

// The start of a scenario's nodes settles; a start step settles only when it
// says so; the hub is the first live node, and only live nodes join it.
func TestSettleJoinsLiveNodesToFirstLive(t *testing.T) {
	sc, err := Parse([]byte(`
name: settle
nodes: 4
steps:
  - crash: {nodes: [n0]}
  - pause: {nodes: [n3]}
  - start: {count: 2, settle: true, no_wait: true}
  - start: {count: 1, no_wait: true}
`))
	if err != nil {
		t.Fatal(err)
	}
	rec := &joinLog{prog: &Progress{}, calls: map[int][]string{}}
	synctest.Test(t, func(t *testing.T) {
		w := &fakeWorld{}
		_, err = Run(context.Background(), sc, Options{
			Factory: func(ctx context.Context, spec NodeSpec) (Node, error) {
				n, err := w.factory(ctx, spec)
				if err != nil {
					return nil, err
				}
				return joinRecorder{n, rec}, nil
			},
			Bounds: fakeBounds, DataDir: t.TempDir(), Drain: time.Second, Progress: rec.prog,
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	a := simnet.Addr
	want := map[int][]string{
		-1: {"n1>" + a(0), "n2>" + a(0), "n3>" + a(0)}, // the scenario's nodes
		2:  {"n2>" + a(1), "n4>" + a(1), "n5>" + a(1)}, // n0 crashed, n3 paused
	}
	for step := range rec.calls {
		slices.Sort(rec.calls[step])
	}
	if !maps.EqualFunc(rec.calls, want, slices.Equal) {
		t.Errorf("joins %v, want %v", rec.calls, want)
	}
}

var membershipAfter = regexp.MustCompile(`membership complete after ([0-9.]+[mµn]?s)`)

// With real agents, settling leaves nothing for gossip to finish: membership
// is complete as soon as the exchanges are done.
func TestSettleCompletesAgentMembership(t *testing.T) {
	sc, err := Parse([]byte("name: settle-agents\nnodes: 40\nsteps:\n  - wait: {for: 1s}\n"))
	if err != nil {
		t.Fatal(err)
	}
	rep, log := runStackLog(t, sc, true)
	if rep.Stopped != "" {
		t.Fatalf("run stopped: %s", rep.Stopped)
	}
	if !regexp.MustCompile(`settled: 39 nodes exchanged member lists with n0 \(0 failed\)`).MatchString(log) {
		t.Fatalf("no settle line in the log:\n%s", log)
	}
	m := membershipAfter.FindStringSubmatch(log)
	if m == nil {
		t.Fatalf("no membership line in the log:\n%s", log)
	}
	took, err := time.ParseDuration(m[1])
	if err != nil {
		t.Fatal(err)
	}
	if took > 100*time.Millisecond { // 700 ms without settling
		t.Errorf("membership complete %v after settling, want at once", took)
	}
}
