package sim

import (
	"context"
	"errors"
	"fmt"
	"time"
)

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

func (*WaitStep) Kind() string { return "wait" }

func (w *WaitStep) Validate() error {
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
	return nil
}

func (w *WaitStep) shrink(_ func(int) int, dur func(time.Duration) time.Duration) Action {
	c := *w
	if c.For > 0 {
		c.For = dur(c.For)
	}
	return &c
}

func (w *WaitStep) run(ctx context.Context, r *runner, i int) error {
	if w.Until == "" {
		r.record(i, "wait", w.For.String())
		return sleep(ctx, w.For)
	}
	timeout := w.Timeout
	if timeout == 0 {
		timeout = 60 * time.Second
	}
	var cond func() (bool, string)
	switch w.Until {
	case UntilConverged:
		cond = func() (bool, string) {
			if ok, d := r.cl.converged(); !ok {
				return false, d
			}
			return r.cl.membersComplete()
		}
	case UntilMembers:
		cond = r.cl.membersComplete
	case UntilPropagated:
		cond = func() (bool, string) {
			n := r.ck.pending()
			return n == 0, fmt.Sprintf("%d changes not seen everywhere", n)
		}
	}
	t0 := r.now()
	ok, detail, took, err := r.until(ctx, timeout, cond)
	if err != nil {
		return err
	}
	res := fmt.Sprintf("until %s: ok after %v", w.Until, took.Round(time.Millisecond))
	if !ok {
		res = fmt.Sprintf("until %s: TIMEOUT after %v: %s", w.Until, timeout, detail)
	}
	r.record(i, "wait", res)
	switch w.Until {
	case UntilConverged:
		r.ck.convergenceResult(r.now(), ok, "not converged within "+timeout.String()+": "+detail)
		if ok {
			// Lookups may lag the hash by a liveness refresh (leases revive
			// when membership says alive): G2 gets the rest of the timeout.
			lost, _, _, err := r.until(ctx, max(timeout-time.Since(t0), 0), func() (bool, string) {
				return r.lostNone(), ""
			})
			if err != nil {
				return err
			}
			if !lost {
				r.checkLost()
			} else {
				r.ck.markChecked(G2)
			}
		}
	case UntilMembers:
		if !ok {
			return errors.New(res)
		}
	}
	return nil
}
