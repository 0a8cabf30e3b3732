package sim

import (
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name, yml, want string
	}{
		{"empty", "", "empty"},
		{"no name", "nodes: 3\n", "name is required"},
		{"unknown key", "name: x\nbogus: 1\n", "field bogus not found"},
		{"unknown step key", "name: x\nsteps:\n  - crash: {nodes: [n1], hard: true}\n", "line 3: invalid scenario: field hard not found in crash"},
		{"two actions", "name: x\nsteps:\n  - {heal: {}, crash: {nodes: [n1]}}\n", "line 3: invalid scenario: want exactly one action, got 2"},
		{"no action", "name: x\nsteps:\n  - {}\n", "want exactly one action, got 0"},
		{"unknown kind", "name: x\nsteps:\n  - heal: {}\n  - explode: {}\n", "line 4: invalid scenario: unknown step \"explode\""},
		{"nested unknown", "name: x\nsteps:\n  - restart: {nodes: [n0], agent: {leases: {grace: 1s}, bogus: 1}}\n", "field bogus not found in agentsettings"},
		{"agent key", "name: x\nagent: {leases: {gracee: 1s}}\n", "field gracee not found"},
		{"agent value", "name: x\nagent: {leases: {grace: 1m, reap_after: 30s}}\n", "line 2: invalid scenario: agent: invalid config: leases.reap_after 30s"},
		{"stream loss", "name: x\nsteps:\n  - link: {stream_loss: 2}\n", "stream_loss 2 not in [0,1]"},
		{"clock zero", "name: x\nsteps:\n  - clock: {nodes: [n0]}\n", "step 0 (clock): step 0s"},
		{"save name", "name: x\nsteps:\n  - save: {nodes: [n0], name: \"a b\"}\n", "name \"a b\""},
		{"slow", "name: x\nsteps:\n  - slow: {nodes: [n0], by: 1m}\n", "by 1m0s not in [0,10s]"},
		{"bad selector", "name: x\nsteps:\n  - heal: {}\n  - crash: {nodes: [node7]}\n", "line 4: invalid scenario: step 1 (crash): nodes: selector \"node7\""},
		{"rest outside partition", "name: x\nsteps:\n  - crash: {nodes: [rest]}\n", "only in partition groups"},
		{"bad percent", "name: x\nsteps:\n  - crash: {nodes: [\"random 150%\"]}\n", "percent must be in (0,100]"},
		{"bad range", "name: x\nsteps:\n  - crash: {nodes: [n9-n2]}\n", "want nA-nB with A <= B"},
		{"bad of", "name: x\nsteps:\n  - crash: {nodes: [\"random 2 of dead\"]}\n", "of live"},
		{"one group", "name: x\nsteps:\n  - partition: {groups: [[all]]}\n", "at least two groups"},
		{"two rests", "name: x\nsteps:\n  - partition: {groups: [[rest], [rest]]}\n", "more than one group"},
		{"loss", "name: x\nlink: {loss: 1.5}\n", "loss 1.5 not in [0,1]"},
		{"distribution", "name: x\nlink: {distribution: pareto}\n", "distribution \"pareto\""},
		{"wait nothing", "name: x\nsteps:\n  - wait: {}\n", "want for: DURATION"},
		{"wait both", "name: x\nsteps:\n  - wait: {for: 1s, until: converged}\n", "exclusive"},
		{"wait unknown", "name: x\nsteps:\n  - wait: {until: happy}\n", "until \"happy\""},
		{"bad duration", "name: x\nsteps:\n  - wait: {for: soon}\n", "cannot unmarshal"},
		{"assert unknown", "name: x\nsteps:\n  - assert: [sunny]\n", "unknown assertion \"sunny\""},
		{"health status", "name: x\nsteps:\n  - health: {nodes: [n0], service: web, status: sick}\n", "status \"sick\""},
		{"service name", "name: x\nsteps:\n  - register: {nodes: [n0], service: Web_1}\n", "service \"Web_1\""},
		{"id with count", "name: x\nsteps:\n  - register: {nodes: [n0], service: web, id: a, count: 2}\n", "id with count > 1"},
		{"too many nodes", "name: x\nnodes: 6000\n", "nodes 6000"},
		{"start too many", "name: x\nnodes: 4000\nsteps:\n  - start: {count: 2000}\n", "more than 5000 nodes"},
		{"two documents", "name: x\n---\nname: y\n", "more than one YAML document"},
		{"short", "name: x\nnodes: 10\nshort: {nodes: 2, time_scale: 2}\n", "time_scale"},
		{"flap no period", "name: x\nsteps:\n  - flap: {nodes: [n0], with: [n1], up: 1s}\n", "step 0 (flap): up 1s and down 0s"},
		{"flap no with", "name: x\nsteps:\n  - flap: {nodes: [n0], up: 1s, down: 1s}\n", "with: at least one selector"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.yml))
			if err == nil || !errors.Is(err, ErrInvalidScenario) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("got %v, want ErrInvalidScenario containing %q", err, tt.want)
			}
		})
	}
}

func TestParseComplete(t *testing.T) {
	yml := `
# comments are allowed
name: all-steps
seed: 42
nodes: 4
link: {latency: 2ms, jitter: 1ms, distribution: long_tail, loss: 0.01, duplicate: 0.001}
sample: 50ms
steps:
  - start: {count: 2, timeout: 30s}
  - register: {nodes: [n0, n1-n2], service: web, count: 2, health: warning, tags: [a, b]}
  - deregister: {nodes: ["random 1"], service: web, id: web-1}
  - health: {nodes: ["first 50%"], service: web, status: critical}
  - partition: {groups: [["first 50%"], [rest]]}
  - cut: {from: [n0], to: [n1], both: true}
  - heal: {}
  - flap: {nodes: [n0], with: ["random 50%"], up: 2s, down: 500ms}
  - unflap: {}
  - link: {from: [n0], to: ["last 2"], loss: 0.5, both: true}
  - link: {reset: true, latency: 5ms}
  - crash: {nodes: ["random 25%"]}
  - restart: {nodes: ["random 1 of crashed"], wipe: true, every: 1s}
  - pause: {nodes: [n3], for: 2s}
  - resume: {nodes: [paused]}
  - leave: {nodes: [n5]}
  - skew: {nodes: [n1], by: -3m}
  - wait: {for: 1m30s}
  - wait: {until: converged, timeout: 45s}
  - assert: [converged, no_lost, no_resurrection, lease_bound, stale_over_empty]
`
	sc, err := Parse([]byte(yml))
	if err != nil {
		t.Fatal(err)
	}
	var kinds []string
	for _, st := range sc.Steps {
		kinds = append(kinds, st.Kind())
	}
	want := []string{"start", "register", "deregister", "health", "partition", "cut", "heal", "flap", "unflap", "link", "link",
		"crash", "restart", "pause", "resume", "leave", "skew", "wait", "wait", "assert"}
	if !slices.Equal(kinds, want) {
		t.Errorf("kinds = %v, want %v", kinds, want)
	}
	if got := *sc.Link.Latency; got != 2*time.Millisecond {
		t.Errorf("latency = %v", got)
	}
	if got := sc.Steps[7].Action.(*FlapStep); got.Up != 2*time.Second || got.Down != 500*time.Millisecond {
		t.Errorf("flap = %+v", got)
	}
	if got := sc.Steps[16].Action.(*SkewStep).By; got != -3*time.Minute {
		t.Errorf("skew = %v", got)
	}
	if got := sc.Steps[17].Action.(*WaitStep).For; got != 90*time.Second {
		t.Errorf("wait = %v", got)
	}
}

func TestLibraryScenariosParse(t *testing.T) {
	for _, f := range scenarioFiles(t) {
		if _, err := Load(f); err != nil {
			t.Errorf("%s: %v", f, err)
		}
	}
}

func TestShrunk(t *testing.T) {
	sc, err := Parse([]byte(`
name: s
nodes: 100
short: {nodes: 10, time_scale: 0.5}
steps:
  - start: {count: 20}
  - wait: {for: 60s}
  - wait: {until: converged, timeout: 60s}
  - pause: {nodes: [n0], for: 10s}
  - restart: {nodes: [all], every: 4s}
`))
	if err != nil {
		t.Fatal(err)
	}
	s := sc.Shrunk()
	if s.Nodes != 10 || s.Steps[0].Action.(*StartStep).Count != 2 || s.Steps[1].Action.(*WaitStep).For != 30*time.Second ||
		s.Steps[2].Action.(*WaitStep).Timeout != 60*time.Second || s.Steps[3].Action.(*PauseStep).For != 5*time.Second ||
		s.Steps[4].Action.(*RestartStep).Every != 2*time.Second || s.Short != nil {
		t.Errorf("shrunk = %+v", s)
	}
	if sc.Steps[0].Action.(*StartStep).Count != 20 {
		t.Errorf("Shrunk modified the original")
	}
}

func TestResolve(t *testing.T) {
	pool := []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}
	state := func(i int) nodeState {
		if i%3 == 0 {
			return stateCrashed
		}
		return stateLive
	}
	tests := []struct {
		sels []string
		want []int
	}{
		{[]string{"n3"}, []int{3}},
		{[]string{"n2-n4", "n8"}, []int{2, 3, 4, 8}},
		{[]string{"all"}, pool},
		{[]string{"crashed"}, []int{0, 3, 6, 9}},
		{[]string{"first 2"}, []int{0, 1}},
		{[]string{"first 25%"}, []int{0, 1, 2}},
		{[]string{"last 10%"}, []int{9}},
		{[]string{"last 2 of live"}, []int{7, 8}},
		{[]string{"first 100%"}, pool},
	}
	for _, tt := range tests {
		got, err := resolve(tt.sels, pool, state, rand.New(rand.NewPCG(1, 2)))
		if err != nil || !slices.Equal(got, tt.want) {
			t.Errorf("resolve(%v) = %v, %v; want %v", tt.sels, got, err, tt.want)
		}
	}
	// Random picks are reproducible from the seed and come from the pool.
	a, _ := resolve([]string{"random 4 of crashed"}, pool, state, rand.New(rand.NewPCG(7, 7)))
	b, _ := resolve([]string{"random 4 of crashed"}, pool, state, rand.New(rand.NewPCG(7, 7)))
	if !slices.Equal(a, b) || len(a) != 4 {
		t.Errorf("random: %v vs %v", a, b)
	}
	if _, err := resolve([]string{"n42"}, pool, state, rand.New(rand.NewPCG(1, 2))); err == nil {
		t.Errorf("a node outside the pool must be an error")
	}
}

func FuzzParse(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("scenarios", "*.yaml"))
	for _, p := range files {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b)
		}
	}
	f.Add([]byte("name: x\nsteps:\n  - partition: {groups: [[\"random 50% of live\"], [rest]]}\n"))
	f.Add([]byte("name: x\nsteps: [{wait: {until: converged}}, {assert: [no_lost]}]"))
	f.Add([]byte("&a [*a, *a, *a]"))
	f.Fuzz(func(t *testing.T, b []byte) {
		sc, err := Parse(b)
		if err != nil {
			if !errors.Is(err, ErrInvalidScenario) {
				t.Fatalf("error %v does not wrap ErrInvalidScenario", err)
			}
			return
		}
		if err := sc.Validate(); err != nil {
			t.Fatalf("parsed scenario fails Validate: %v", err)
		}
		if err := sc.Shrunk().Validate(); sc.Short != nil && err != nil {
			t.Fatalf("shrunk scenario fails Validate: %v", err)
		}
	})
}

// The example of docs/sim.md parses and uses every step kind.
func TestDocExampleHasEveryKind(t *testing.T) {
	sc, err := Load(filepath.Join("testdata", "example.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	used := map[string]bool{}
	for _, st := range sc.Steps {
		used[st.Kind()] = true
	}
	for _, k := range Kinds() {
		if !used[k] {
			t.Errorf("the example has no %s step", k)
		}
	}
}
