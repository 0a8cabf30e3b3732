package sim

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Step is one scenario step: exactly one action, and where the file wrote it.
type Step struct {
	Action Action
	// Line is the step's line in the scenario file (1-based; 0 when unknown).
	Line int
}

// Action is what one step does. Each kind is one type in its own file
// (step_<kind>.go) with its validation and its run; the YAML key of the step
// is its Kind.
type Action interface {
	// Kind is the step's YAML key ("crash", "restart", ...).
	Kind() string
	// Validate checks the step on its own (selectors parse, values in range).
	Validate() error
	// run executes the step as step i of a run.
	run(ctx context.Context, r *runner, i int) error
}

// shrinker is implemented by actions with fixed durations or node counts that
// the short version of a scenario scales (Scenario.Shrunk).
type shrinker interface {
	shrink(nodes func(int) int, dur func(time.Duration) time.Duration) Action
}

// actions maps each step kind to a constructor of its zero value.
var actions = map[string]func() Action{
	"start":      func() Action { return &StartStep{} },
	"register":   func() Action { return &RegisterStep{} },
	"deregister": func() Action { return &DeregisterStep{} },
	"health":     func() Action { return &HealthStep{} },
	"partition":  func() Action { return &PartitionStep{} },
	"bridge":     func() Action { return &BridgeStep{} },
	"cut":        func() Action { return &CutStep{} },
	"heal":       func() Action { return &HealStep{} },
	"flap":       func() Action { return &FlapStep{} },
	"unflap":     func() Action { return &UnflapStep{} },
	"link":       func() Action { return &LinkStep{} },
	"slow":       func() Action { return &SlowStep{} },
	"crash":      func() Action { return &CrashStep{} },
	"restart":    func() Action { return &RestartStep{} },
	"pause":      func() Action { return &PauseStep{} },
	"resume":     func() Action { return &ResumeStep{} },
	"leave":      func() Action { return &LeaveStep{} },
	"skew":       func() Action { return &SkewStep{} },
	"clock":      func() Action { return &ClockStep{} },
	"save":       func() Action { return &SaveStep{} },
	"restore":    func() Action { return &RestoreStep{} },
	"wait":       func() Action { return &WaitStep{} },
	"assert":     func() Action { return &AssertStep{} },
}

// Kinds returns every step kind, sorted.
func Kinds() []string {
	out := make([]string, 0, len(actions))
	for k := range actions {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// Kind returns the step's kind, or "" if it has no action.
func (s Step) Kind() string {
	if s.Action == nil {
		return ""
	}
	return s.Action.Kind()
}

// UnmarshalYAML decodes a step: a mapping with exactly one key, the kind,
// whose value is decoded strictly (unknown keys are errors) into the kind's
// type.
func (s *Step) UnmarshalYAML(n *yaml.Node) error {
	s.Line = n.Line
	if n.Kind != yaml.MappingNode {
		return lineErr(n, "a step is a mapping of one kind to its settings, e.g. crash: {nodes: [n1]}")
	}
	if len(n.Content) != 2 {
		return lineErr(n, "want exactly one action, got %d", len(n.Content)/2)
	}
	key, val := n.Content[0], n.Content[1]
	mk := actions[key.Value]
	if mk == nil {
		return lineErr(key, "unknown step %q; want one of %s", key.Value, strings.Join(Kinds(), ", "))
	}
	a := mk()
	if err := checkKnown(val, reflect.TypeOf(a).Elem()); err != nil {
		return err
	}
	if err := val.Decode(a); err != nil {
		return err
	}
	s.Action = a
	return nil
}

// lineErr is a decoding error at n's line, formatted like yaml's own.
func lineErr(n *yaml.Node, format string, a ...any) error {
	return fmt.Errorf("line %d: %s", n.Line, fmt.Sprintf(format, a...))
}

// checkKnown rejects keys of the mapping n that t (a struct) has no field
// for, recursing into struct-typed fields: yaml.Node.Decode has no strict
// mode of its own.
func checkKnown(n *yaml.Node, t reflect.Type) error {
	for n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if n.Kind != yaml.MappingNode || t.Kind() != reflect.Struct || t == reflect.TypeOf(yaml.Node{}) {
		return nil
	}
	fields := map[string]reflect.Type{}
	var collect func(t reflect.Type)
	collect = func(t reflect.Type) {
		for f := range t.Fields() {
			tag, opts, _ := strings.Cut(f.Tag.Get("yaml"), ",")
			switch {
			case tag == "-" || !f.IsExported():
			case opts == "inline":
				collect(f.Type)
			case tag == "":
				fields[strings.ToLower(f.Name)] = f.Type
			default:
				fields[tag] = f.Type
			}
		}
	}
	collect(t)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		ft, ok := fields[k.Value]
		if !ok {
			return lineErr(k, "field %s not found in %s", k.Value, strings.TrimSuffix(strings.ToLower(t.Name()), "step"))
		}
		if err := checkKnown(v, ft); err != nil {
			return err
		}
	}
	return nil
}

// yamlLine finds the line of a yaml error ("yaml: line 4: ..." or
// "line 4: ..."), 0 if none.
var yamlLineRE = regexp.MustCompile(`line (\d+): (.*)`)

// ScenarioError is an invalid scenario: where (Line, 1-based, 0 if unknown)
// and what is wrong. It wraps ErrInvalidScenario.
type ScenarioError struct {
	File string
	Line int
	Msg  string
}

func (e *ScenarioError) Error() string {
	switch {
	case e.File != "" && e.Line > 0:
		return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg)
	case e.File != "":
		return fmt.Sprintf("%s: %s", e.File, e.Msg)
	case e.Line > 0:
		return fmt.Sprintf("line %d: %s", e.Line, e.Msg)
	}
	return e.Msg
}

func (e *ScenarioError) Unwrap() error { return ErrInvalidScenario }

// Is makes errors.Is(err, ErrInvalidScenario) hold.
func (e *ScenarioError) Is(target error) bool { return target == ErrInvalidScenario }

// decodeError turns a yaml decoding error into a ScenarioError.
func decodeError(err error) *ScenarioError {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	msg = strings.TrimPrefix(msg, "unmarshal errors:\n")
	msg = strings.TrimSpace(msg)
	if m := yamlLineRE.FindStringSubmatch(msg); m != nil {
		var line int
		fmt.Sscan(m[1], &line)
		return &ScenarioError{Line: line, Msg: "invalid scenario: " + m[2]}
	}
	return &ScenarioError{Msg: "invalid scenario: " + msg}
}

// Shared validation helpers of the step types.

func validDuration(d time.Duration) bool { return d >= 0 && d <= maxDuration }

var serviceRE = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,62})$`)
var idRE = regexp.MustCompile(`^[A-Za-z0-9._-]{1,128}$`)
var labelRE = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)

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

var healths = map[string]bool{"passing": true, "warning": true, "critical": true, "maintenance": true}
