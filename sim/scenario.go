package sim

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"regexp"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// ErrInvalidScenario wraps every reason Parse or Validate rejects a scenario.
var ErrInvalidScenario = errors.New("sim: invalid scenario")

// Limits that keep a scenario file (untrusted input) from asking for absurd work.
const (
	maxScenarioBytes = 1 << 20
	maxNodes         = 5000
	maxSteps         = 10000
	maxInstances     = 1000 // per node per register step
	maxDuration      = 24 * time.Hour
)

// Scenario is one simulation: a cluster, a network and a list of steps. It is
// decoded from YAML (see docs/sim.md); every field is documented there.
type Scenario struct {
	// Name identifies the scenario in reports.
	Name string `yaml:"name"`
	// Description is free text shown in the report.
	Description string `yaml:"description"`
	// Seed seeds every random choice of the run (node picks, network draws).
	// Options.Seed overrides it when non-zero. 0 means 1.
	Seed uint64 `yaml:"seed"`
	// Nodes is how many nodes start (and join) before the first step.
	Nodes int `yaml:"nodes"`
	// Link is the default link of the network (every direction of every pair).
	Link Link `yaml:"link"`
	// Sample is the interval at which the checker samples every node's view.
	// Default 100ms (250ms above 300 nodes).
	Sample time.Duration `yaml:"sample"`
	// Short, if set, describes the scenario's short version (Shrunk).
	Short *Short `yaml:"short"`
	// Steps run in order; each waits for the previous one.
	Steps []Step `yaml:"steps"`
}

// Short says how the scenario shrinks for the default `go test` run: node
// counts scale by Nodes/Scenario.Nodes (at least 1 per step) and every fixed
// wait by TimeScale. Timeouts of `until` waits are kept (they are bounds).
type Short struct {
	Nodes     int     `yaml:"nodes"`
	TimeScale float64 `yaml:"time_scale"`
}

// Link is a link configuration in a scenario. Unset fields keep the current
// value (the simnet default at the start).
type Link struct {
	Latency      *time.Duration `yaml:"latency"`
	Jitter       *time.Duration `yaml:"jitter"`
	Distribution string         `yaml:"distribution"` // uniform, fixed, long_tail
	Loss         *float64       `yaml:"loss"`
	Duplicate    *float64       `yaml:"duplicate"`
}

// Step is one action. Exactly one field is set.
type Step struct {
	Start      *StartStep     `yaml:"start"`
	Register   *RegisterStep  `yaml:"register"`
	Deregister *ServiceStep   `yaml:"deregister"`
	Health     *HealthStep    `yaml:"health"`
	Partition  *PartitionStep `yaml:"partition"`
	Cut        *CutStep       `yaml:"cut"`
	Heal       *struct{}      `yaml:"heal"`
	Flap       *FlapStep      `yaml:"flap"`
	Unflap     *struct{}      `yaml:"unflap"`
	LinkChange *LinkStep      `yaml:"link"`
	Crash      *NodesStep     `yaml:"crash"`
	Restart    *RestartStep   `yaml:"restart"`
	Pause      *PauseStep     `yaml:"pause"`
	Resume     *NodesStep     `yaml:"resume"`
	Leave      *NodesStep     `yaml:"leave"`
	Skew       *SkewStep      `yaml:"skew"`
	Wait       *WaitStep      `yaml:"wait"`
	Assert     []string       `yaml:"assert"`
}

// StartStep starts Count new nodes (named n<i> with the next indices) and, unless
// NoWait, waits until every live node sees every live node alive.
type StartStep struct {
	Count   int           `yaml:"count"`
	NoWait  bool          `yaml:"no_wait"`
	Timeout time.Duration `yaml:"timeout"` // default 60s
}

// RegisterStep registers Count instances of Service at each selected node, with
// IDs "<service>-<k>" (or ID when Count is 1).
type RegisterStep struct {
	Nodes   []string `yaml:"nodes"`
	Service string   `yaml:"service"`
	ID      string   `yaml:"id"`
	Count   int      `yaml:"count"`  // default 1
	Health  string   `yaml:"health"` // default passing
	Tags    []string `yaml:"tags"`
}

// ServiceStep deregisters the instances of Service (or only ID) at the selected
// nodes. Node selection draws from the nodes that hold such instances.
type ServiceStep struct {
	Nodes   []string `yaml:"nodes"`
	Service string   `yaml:"service"`
	ID      string   `yaml:"id"`
}

// HealthStep sets the health of the instances of Service (or only ID) at the
// selected nodes.
type HealthStep struct {
	Nodes   []string `yaml:"nodes"`
	Service string   `yaml:"service"`
	ID      string   `yaml:"id"`
	Status  string   `yaml:"status"`
}

// PartitionStep splits the network into groups; nodes in different groups
// cannot talk. "rest" names every node not in another group.
type PartitionStep struct {
	Groups [][]string `yaml:"groups"`
}

// CutStep cuts traffic from every From node to every To node (one way), or both
// ways with Both. Heal undoes it.
type CutStep struct {
	From []string `yaml:"from"`
	To   []string `yaml:"to"`
	Both bool     `yaml:"both"`
}

// FlapStep makes every link between a Nodes node and a With node flap (both
// directions): down at once for Down, then up for Up, and so on, until an
// unflap or heal step (or the end of the run).
type FlapStep struct {
	Nodes []string      `yaml:"nodes"`
	With  []string      `yaml:"with"`
	Up    time.Duration `yaml:"up"`
	Down  time.Duration `yaml:"down"`
}

// LinkStep changes links: the default link when From and To are empty, else
// the directed links From → To (and back with Both). Reset first restores the
// scenario's default link and clears per-link settings.
type LinkStep struct {
	Link  `yaml:",inline"`
	From  []string `yaml:"from"`
	To    []string `yaml:"to"`
	Both  bool     `yaml:"both"`
	Reset bool     `yaml:"reset"`
}

// NodesStep selects nodes for crash, resume and leave.
type NodesStep struct {
	Nodes []string `yaml:"nodes"`
}

// RestartStep restarts the selected nodes (crashing the live ones first): with
// the same data directory, or a wiped one (a new epoch, registrations lost).
// With Every > 0 the nodes restart one at a time, Every apart (rolling).
type RestartStep struct {
	Nodes []string      `yaml:"nodes"`
	Wipe  bool          `yaml:"wipe"`
	Every time.Duration `yaml:"every"`
}

// PauseStep pauses the selected nodes (SIGSTOP); with For > 0 the step waits
// that long and resumes them.
type PauseStep struct {
	Nodes []string      `yaml:"nodes"`
	For   time.Duration `yaml:"for"`
}

// SkewStep sets the clock offset of the selected nodes.
type SkewStep struct {
	Nodes []string      `yaml:"nodes"`
	By    time.Duration `yaml:"by"`
}

// WaitStep waits For a duration, or Until a condition holds (failing the
// condition's invariant after Timeout): converged (G1: every live node has the
// same catalog hash), members (every live node sees every live node alive),
// propagated (every change so far is seen by every live node).
type WaitStep struct {
	For     time.Duration `yaml:"for"`
	Until   string        `yaml:"until"`
	Timeout time.Duration `yaml:"timeout"` // default 60s
}

// Wait conditions.
const (
	UntilConverged  = "converged"
	UntilMembers    = "members"
	UntilPropagated = "propagated"
)

// Assertion names for the assert step.
const (
	AssertConverged      = "converged"        // G1 now
	AssertNoLost         = "no_lost"          // G2 now
	AssertNoResurrection = "no_resurrection"  // G3 over the history so far
	AssertLeaseBound     = "lease_bound"      // G4 over the history so far
	AssertStaleOverEmpty = "stale_over_empty" // G5 over the history so far
)

var healths = map[string]bool{"passing": true, "warning": true, "critical": true, "maintenance": true}

// Kind returns the step's kind (its YAML key), or "" if none is set.
func (s Step) Kind() string {
	k, _ := s.kind()
	return k
}

func (s Step) kind() (string, int) {
	kinds := []struct {
		name string
		set  bool
	}{
		{"start", s.Start != nil}, {"register", s.Register != nil},
		{"deregister", s.Deregister != nil}, {"health", s.Health != nil},
		{"partition", s.Partition != nil}, {"cut", s.Cut != nil},
		{"heal", s.Heal != nil}, {"link", s.LinkChange != nil},
		{"flap", s.Flap != nil}, {"unflap", s.Unflap != nil},
		{"crash", s.Crash != nil}, {"restart", s.Restart != nil},
		{"pause", s.Pause != nil}, {"resume", s.Resume != nil},
		{"leave", s.Leave != nil}, {"skew", s.Skew != nil},
		{"wait", s.Wait != nil}, {"assert", s.Assert != nil},
	}
	name, n := "", 0
	for _, k := range kinds {
		if k.set {
			name = k.name
			n++
		}
	}
	return name, n
}

// Load reads and parses a scenario file.
func Load(path string) (Scenario, error) {
	f, err := os.Open(path)
	if err != nil {
		return Scenario{}, fmt.Errorf("sim: load scenario: %w", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxScenarioBytes+1))
	if err != nil {
		return Scenario{}, fmt.Errorf("sim: load scenario: %w", err)
	}
	sc, err := Parse(b)
	if err != nil {
		return Scenario{}, fmt.Errorf("%s: %w", path, err)
	}
	return sc, nil
}

// Parse decodes a YAML scenario strictly (unknown keys are errors) and
// validates it.
func Parse(b []byte) (Scenario, error) {
	if len(b) > maxScenarioBytes {
		return Scenario{}, fmt.Errorf("%w: larger than %d bytes", ErrInvalidScenario, maxScenarioBytes)
	}
	var sc Scenario
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&sc); err != nil {
		if errors.Is(err, io.EOF) {
			return Scenario{}, fmt.Errorf("%w: empty", ErrInvalidScenario)
		}
		return Scenario{}, fmt.Errorf("%w: %v", ErrInvalidScenario, err)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return Scenario{}, fmt.Errorf("%w: more than one YAML document", ErrInvalidScenario)
	}
	if err := sc.Validate(); err != nil {
		return Scenario{}, err
	}
	return sc, nil
}

// Validate checks the scenario; errors name the step index (from 0) and kind.
func (sc Scenario) Validate() error {
	bad := func(format string, a ...any) error {
		return fmt.Errorf("%w: %s", ErrInvalidScenario, fmt.Sprintf(format, a...))
	}
	if sc.Name == "" {
		return bad("name is required")
	}
	if sc.Nodes < 0 || sc.Nodes > maxNodes {
		return bad("nodes %d not in [0,%d]", sc.Nodes, maxNodes)
	}
	if err := sc.Link.validate(); err != nil {
		return bad("link: %v", err)
	}
	if sc.Sample < 0 || sc.Sample > time.Minute {
		return bad("sample %v not in [0,1m]", sc.Sample)
	}
	if s := sc.Short; s != nil {
		if s.Nodes < 1 || s.Nodes > maxNodes || !(s.TimeScale > 0 && s.TimeScale <= 1) {
			return bad("short: nodes must be >= 1 and time_scale in (0,1]")
		}
	}
	if len(sc.Steps) > maxSteps {
		return bad("more than %d steps", maxSteps)
	}
	total := sc.Nodes
	for i, st := range sc.Steps {
		kind, n := st.kind()
		if n != 1 {
			return bad("step %d: want exactly one action, got %d", i, n)
		}
		if err := st.validate(); err != nil {
			return bad("step %d (%s): %v", i, kind, err)
		}
		if st.Start != nil {
			total += st.Start.Count
			if total > maxNodes {
				return bad("step %d (start): more than %d nodes in all", i, maxNodes)
			}
		}
	}
	return nil
}

func (l Link) validate() error {
	switch {
	case l.Latency != nil && (*l.Latency < 0 || *l.Latency > time.Minute):
		return fmt.Errorf("latency %v not in [0,1m]", *l.Latency)
	case l.Jitter != nil && (*l.Jitter < 0 || *l.Jitter > time.Minute):
		return fmt.Errorf("jitter %v not in [0,1m]", *l.Jitter)
	case l.Loss != nil && !(*l.Loss >= 0 && *l.Loss <= 1):
		return fmt.Errorf("loss %v not in [0,1]", *l.Loss)
	case l.Duplicate != nil && !(*l.Duplicate >= 0 && *l.Duplicate <= 1):
		return fmt.Errorf("duplicate %v not in [0,1]", *l.Duplicate)
	}
	switch l.Distribution {
	case "", "uniform", "fixed", "long_tail":
	default:
		return fmt.Errorf("distribution %q: want uniform, fixed or long_tail", l.Distribution)
	}
	return nil
}

func validDuration(d time.Duration) bool { return d >= 0 && d <= maxDuration }

var serviceRE = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,62})$`)
var idRE = regexp.MustCompile(`^[A-Za-z0-9._-]{1,128}$`)

func checkSelectors(what string, sels []string, required, allowRest bool) error {
	if required && len(sels) == 0 {
		return fmt.Errorf("%s: at least one selector required", what)
	}
	for _, s := range sels {
		sel, err := parseSelector(s)
		if err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		if sel.kind == selRest && !allowRest {
			return fmt.Errorf("%s: %q only in partition groups", what, s)
		}
	}
	return nil
}

func checkServiceID(service, id string, serviceRequired bool) error {
	if service == "" && serviceRequired {
		return errors.New("service is required")
	}
	if service != "" && !serviceRE.MatchString(service) {
		return fmt.Errorf("service %q: want [a-z0-9-], 1-63 chars", service)
	}
	if id != "" && !idRE.MatchString(id) {
		return fmt.Errorf("id %q: want [A-Za-z0-9._-], 1-128 chars", id)
	}
	return nil
}

func (st Step) validate() error {
	switch {
	case st.Start != nil:
		s := st.Start
		if s.Count < 1 || s.Count > maxNodes {
			return fmt.Errorf("count %d not in [1,%d]", s.Count, maxNodes)
		}
		if !validDuration(s.Timeout) {
			return fmt.Errorf("timeout %v", s.Timeout)
		}
	case st.Register != nil:
		s := st.Register
		if err := checkSelectors("nodes", s.Nodes, true, false); err != nil {
			return err
		}
		if err := checkServiceID(s.Service, s.ID, true); err != nil {
			return err
		}
		if s.Count < 0 || s.Count > maxInstances {
			return fmt.Errorf("count %d not in [0,%d]", s.Count, maxInstances)
		}
		if s.ID != "" && s.Count > 1 {
			return errors.New("id with count > 1")
		}
		if s.Health != "" && !healths[s.Health] {
			return fmt.Errorf("health %q: want passing, warning, critical or maintenance", s.Health)
		}
		if len(s.Tags) > 64 {
			return errors.New("more than 64 tags")
		}
	case st.Deregister != nil:
		s := st.Deregister
		if err := checkSelectors("nodes", s.Nodes, true, false); err != nil {
			return err
		}
		return checkServiceID(s.Service, s.ID, true)
	case st.Health != nil:
		s := st.Health
		if err := checkSelectors("nodes", s.Nodes, true, false); err != nil {
			return err
		}
		if err := checkServiceID(s.Service, s.ID, true); err != nil {
			return err
		}
		if !healths[s.Status] {
			return fmt.Errorf("status %q: want passing, warning, critical or maintenance", s.Status)
		}
	case st.Partition != nil:
		if len(st.Partition.Groups) < 2 {
			return errors.New("at least two groups required")
		}
		rests := 0
		for gi, g := range st.Partition.Groups {
			if err := checkSelectors(fmt.Sprintf("group %d", gi), g, true, true); err != nil {
				return err
			}
			for _, s := range g {
				if strings.TrimSpace(s) == "rest" {
					rests++
				}
			}
		}
		if rests > 1 {
			return errors.New(`"rest" in more than one group`)
		}
	case st.Cut != nil:
		if err := checkSelectors("from", st.Cut.From, true, false); err != nil {
			return err
		}
		return checkSelectors("to", st.Cut.To, true, false)
	case st.LinkChange != nil:
		s := st.LinkChange
		if err := s.Link.validate(); err != nil {
			return err
		}
		if (len(s.From) == 0) != (len(s.To) == 0) {
			return errors.New("from and to go together")
		}
		if err := checkSelectors("from", s.From, false, false); err != nil {
			return err
		}
		return checkSelectors("to", s.To, false, false)
	case st.Flap != nil:
		f := st.Flap
		if f.Up < time.Millisecond || f.Up > maxDuration || f.Down < time.Millisecond || f.Down > maxDuration {
			return fmt.Errorf("up %v and down %v must be in [1ms,24h]", f.Up, f.Down)
		}
		if err := checkSelectors("nodes", f.Nodes, true, false); err != nil {
			return err
		}
		return checkSelectors("with", f.With, true, false)
	case st.Crash != nil:
		return checkSelectors("nodes", st.Crash.Nodes, true, false)
	case st.Resume != nil:
		return checkSelectors("nodes", st.Resume.Nodes, true, false)
	case st.Leave != nil:
		return checkSelectors("nodes", st.Leave.Nodes, true, false)
	case st.Restart != nil:
		if !validDuration(st.Restart.Every) {
			return fmt.Errorf("every %v", st.Restart.Every)
		}
		return checkSelectors("nodes", st.Restart.Nodes, true, false)
	case st.Pause != nil:
		if !validDuration(st.Pause.For) {
			return fmt.Errorf("for %v", st.Pause.For)
		}
		return checkSelectors("nodes", st.Pause.Nodes, true, false)
	case st.Skew != nil:
		if st.Skew.By < -maxDuration || st.Skew.By > maxDuration {
			return fmt.Errorf("by %v", st.Skew.By)
		}
		return checkSelectors("nodes", st.Skew.Nodes, true, false)
	case st.Wait != nil:
		w := st.Wait
		if !validDuration(w.For) || !validDuration(w.Timeout) {
			return errors.New("durations must be in [0,24h]")
		}
		switch w.Until {
		case "":
			if w.For == 0 || w.Timeout != 0 {
				return errors.New("want for: DURATION, or until: CONDITION [timeout: DURATION]")
			}
		case UntilConverged, UntilMembers, UntilPropagated:
			if w.For != 0 {
				return errors.New("for and until are exclusive")
			}
		default:
			return fmt.Errorf("until %q: want converged, members or propagated", w.Until)
		}
	case st.Assert != nil:
		if len(st.Assert) == 0 {
			return errors.New("nothing to assert")
		}
		for _, a := range st.Assert {
			switch a {
			case AssertConverged, AssertNoLost, AssertNoResurrection, AssertLeaseBound, AssertStaleOverEmpty:
			default:
				return fmt.Errorf("unknown assertion %q", a)
			}
		}
	}
	return nil
}

// Shrunk returns the short version of the scenario (see Short), or the
// scenario itself when it has none.
func (sc Scenario) Shrunk() Scenario {
	if sc.Short == nil || sc.Nodes == 0 {
		return sc
	}
	out := sc
	out.Short = nil
	ratio := float64(sc.Short.Nodes) / float64(sc.Nodes)
	scaleN := func(n int) int { return max(1, int(math.Round(float64(n)*ratio))) }
	scaleD := func(d time.Duration) time.Duration {
		return time.Duration(float64(d) * sc.Short.TimeScale).Round(time.Millisecond)
	}
	out.Nodes = sc.Short.Nodes
	out.Steps = make([]Step, len(sc.Steps))
	for i, st := range sc.Steps {
		switch {
		case st.Start != nil:
			s := *st.Start
			s.Count = scaleN(s.Count)
			st.Start = &s
		case st.Wait != nil && st.Wait.For > 0:
			w := *st.Wait
			w.For = max(scaleD(w.For), time.Millisecond)
			st.Wait = &w
		case st.Pause != nil && st.Pause.For > 0:
			p := *st.Pause
			p.For = max(scaleD(p.For), time.Millisecond)
			st.Pause = &p
		case st.Restart != nil && st.Restart.Every > 0:
			r := *st.Restart
			r.Every = max(scaleD(r.Every), time.Millisecond)
			st.Restart = &r
		}
		out.Steps[i] = st
	}
	return out
}
