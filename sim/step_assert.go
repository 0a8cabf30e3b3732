package sim

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"go.yaml.in/yaml/v3"
)

// AssertStep evaluates invariants: now (converged, no_lost) or over the
// history so far (no_resurrection, crash_withdrawal, stale_over_empty).
// Failures are recorded; the run continues. Written as a list:
// assert: [converged, no_lost].
type AssertStep struct {
	Names []string
}

// Assertion names for the assert step.
const (
	AssertConverged       = "converged"        // G1 now
	AssertNoLost          = "no_lost"          // G2 now
	AssertNoResurrection  = "no_resurrection"  // G3 over the history so far
	AssertCrashWithdrawal = "crash_withdrawal" // G4 over the history so far
	AssertStaleOverEmpty  = "stale_over_empty" // G5 over the history so far
	// AssertLeaseBound is the former name of AssertCrashWithdrawal, still
	// accepted.
	AssertLeaseBound = "lease_bound"
)

// UnmarshalYAML takes the list of names.
func (s *AssertStep) UnmarshalYAML(n *yaml.Node) error { return n.Decode(&s.Names) }

func (*AssertStep) Kind() string { return "assert" }

func (s *AssertStep) Validate() error {
	if len(s.Names) == 0 {
		return errors.New("nothing to assert")
	}
	for _, a := range s.Names {
		switch a {
		case AssertConverged, AssertNoLost, AssertNoResurrection, AssertCrashWithdrawal, AssertLeaseBound, AssertStaleOverEmpty:
		default:
			return fmt.Errorf("unknown assertion %q", a)
		}
	}
	return nil
}

func (s *AssertStep) run(_ context.Context, r *runner, i int) error {
	var res []string
	for _, a := range s.Names {
		var ok bool
		switch a {
		case AssertConverged:
			var detail string
			ok, detail = r.cl.converged()
			r.ck.convergenceResult(r.now(), ok, "assert: "+detail)
		case AssertNoLost:
			ok = r.checkLost()
		case AssertNoResurrection:
			ok = r.ck.historyOK(G3)
		case AssertCrashWithdrawal, AssertLeaseBound:
			ok = r.ck.historyOK(G4)
		case AssertStaleOverEmpty:
			ok = r.ck.historyOK(G5)
		}
		verdict := "ok"
		if !ok {
			verdict = "FAIL"
		}
		res = append(res, a+"="+verdict)
	}
	r.record(i, "assert", strings.Join(res, " "))
	return nil
}
