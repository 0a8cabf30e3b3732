package sim

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/grapevine-sd/grapevine/agent"
	"github.com/grapevine-sd/grapevine/sim/simnet"
)

// ErrInvalidScenario wraps every reason Parse or Validate rejects a scenario
// (as a *ScenarioError, which says where).
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
	// Agent is agent configuration for every node (start and restart steps
	// may add to it per node).
	Agent *AgentSettings `yaml:"agent"`
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

// AgentSettings is agent configuration in a scenario: the gossip and leases
// sections of the agent's config file (docs/config.md), decoded strictly over
// the simulator's defaults, e.g. {leases: {grace: 5s, reap_after: 2m}}.
type AgentSettings struct {
	Gossip yaml.Node `yaml:"gossip"`
	Leases yaml.Node `yaml:"leases"`
}

// Apply decodes the settings into c (keys not given keep their value).
func (s *AgentSettings) Apply(c *agent.Config) error {
	if s == nil {
		return nil
	}
	for _, sec := range []struct {
		name string
		n    *yaml.Node
		into any
	}{{"gossip", &s.Gossip, &c.Gossip}, {"leases", &s.Leases, &c.Leases}} {
		if sec.n.Kind == 0 {
			continue
		}
		b, err := yaml.Marshal(sec.n)
		if err != nil {
			return fmt.Errorf("agent: %s: %w", sec.name, err)
		}
		dec := yaml.NewDecoder(bytes.NewReader(b))
		dec.KnownFields(true)
		if err := dec.Decode(sec.into); err != nil && !errors.Is(err, io.EOF) {
			return fmt.Errorf("agent: %s: %v", sec.name, err)
		}
	}
	return nil
}

// Validate applies the settings over the simulator's agent defaults and
// checks the result.
func (s *AgentSettings) Validate() error {
	c := DefaultAgentConfig()
	c.Node, c.Bind = "n0", simnet.Addr(0)
	if err := s.Apply(&c); err != nil {
		return err
	}
	if err := c.Validate(); err != nil {
		return err // "agent: invalid config: ..."
	}
	return nil
}

// Link is a link configuration in a scenario. Unset fields keep the current
// value (the simnet default at the start).
type Link struct {
	Latency      *time.Duration `yaml:"latency"`
	Jitter       *time.Duration `yaml:"jitter"`
	Distribution string         `yaml:"distribution"` // uniform, fixed, long_tail
	Loss         *float64       `yaml:"loss"`
	Duplicate    *float64       `yaml:"duplicate"`
	// Streams (TCP): extra delay per write, loss (each lost write costs a
	// retransmission timeout), and the probability a write resets the
	// connection.
	StreamDelay *time.Duration `yaml:"stream_delay"`
	StreamLoss  *float64       `yaml:"stream_loss"`
	StreamReset *float64       `yaml:"stream_reset"`
}

func (l Link) validate() error {
	prob := func(name string, p *float64) error {
		if p != nil && !(*p >= 0 && *p <= 1) {
			return fmt.Errorf("%s %v not in [0,1]", name, *p)
		}
		return nil
	}
	dur := func(name string, d *time.Duration) error {
		if d != nil && (*d < 0 || *d > time.Minute) {
			return fmt.Errorf("%s %v not in [0,1m]", name, *d)
		}
		return nil
	}
	if err := errors.Join(dur("latency", l.Latency), dur("jitter", l.Jitter), prob("loss", l.Loss),
		prob("duplicate", l.Duplicate), dur("stream_delay", l.StreamDelay), prob("stream_loss", l.StreamLoss),
		prob("stream_reset", l.StreamReset)); err != nil {
		return err
	}
	switch l.Distribution {
	case "", "uniform", "fixed", "long_tail":
	default:
		return fmt.Errorf("distribution %q: want uniform, fixed or long_tail", l.Distribution)
	}
	return nil
}

// Load reads and parses a scenario file; errors name the file and line.
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
	if se := (*ScenarioError)(nil); errors.As(err, &se) {
		se.File = path
	}
	return sc, err
}

// Parse decodes a YAML scenario strictly (unknown keys are errors) and
// validates it. Errors are *ScenarioError (line and reason).
func Parse(b []byte) (Scenario, error) {
	if len(b) > maxScenarioBytes {
		return Scenario{}, &ScenarioError{Msg: fmt.Sprintf("invalid scenario: larger than %d bytes", maxScenarioBytes)}
	}
	var sc Scenario
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&sc); err != nil {
		if errors.Is(err, io.EOF) {
			return Scenario{}, &ScenarioError{Msg: "invalid scenario: empty"}
		}
		return Scenario{}, decodeError(err)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return Scenario{}, &ScenarioError{Line: extra.Line, Msg: "invalid scenario: more than one YAML document"}
	}
	if err := sc.Validate(); err != nil {
		return Scenario{}, err
	}
	return sc, nil
}

// Validate checks the scenario; errors name the step index (from 0), its
// kind and its line.
func (sc Scenario) Validate() error {
	bad := func(line int, format string, a ...any) error {
		return &ScenarioError{Line: line, Msg: "invalid scenario: " + fmt.Sprintf(format, a...)}
	}
	if sc.Name == "" {
		return bad(0, "name is required")
	}
	if sc.Nodes < 0 || sc.Nodes > maxNodes {
		return bad(0, "nodes %d not in [0,%d]", sc.Nodes, maxNodes)
	}
	if err := sc.Link.validate(); err != nil {
		return bad(0, "link: %v", err)
	}
	if err := sc.Agent.Validate(); sc.Agent != nil && err != nil {
		return bad(sc.Agent.line(), "%v", err)
	}
	if sc.Sample < 0 || sc.Sample > time.Minute {
		return bad(0, "sample %v not in [0,1m]", sc.Sample)
	}
	if s := sc.Short; s != nil {
		if s.Nodes < 1 || s.Nodes > maxNodes || !(s.TimeScale > 0 && s.TimeScale <= 1) {
			return bad(0, "short: nodes must be >= 1 and time_scale in (0,1]")
		}
	}
	if len(sc.Steps) > maxSteps {
		return bad(0, "more than %d steps", maxSteps)
	}
	total := sc.Nodes
	for i, st := range sc.Steps {
		if st.Action == nil {
			return bad(st.Line, "step %d: want exactly one action, got 0", i)
		}
		if err := st.Action.Validate(); err != nil {
			return bad(st.Line, "step %d (%s): %v", i, st.Kind(), err)
		}
		if s, ok := st.Action.(*StartStep); ok {
			total += s.Count
			if total > maxNodes {
				return bad(st.Line, "step %d (start): more than %d nodes in all", i, maxNodes)
			}
		}
	}
	return nil
}

// line is the first line of the settings, for errors.
func (s *AgentSettings) line() int {
	for _, n := range []*yaml.Node{&s.Gossip, &s.Leases} {
		if n.Line > 0 {
			return n.Line
		}
	}
	return 0
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
		return max(time.Duration(float64(d)*sc.Short.TimeScale).Round(time.Millisecond), time.Millisecond)
	}
	out.Nodes = sc.Short.Nodes
	out.Steps = make([]Step, len(sc.Steps))
	for i, st := range sc.Steps {
		if s, ok := st.Action.(shrinker); ok {
			st.Action = s.shrink(scaleN, scaleD)
		}
		out.Steps[i] = st
	}
	return out
}
