package sim

import (
	"context"
	"fmt"
	"time"
)

// PauseStep pauses the selected live nodes (SIGSTOP: inbound traffic
// queues, nothing goes out); with For > 0 the step waits that long and
// resumes them.
type PauseStep struct {
	Nodes []string      `yaml:"nodes"`
	For   time.Duration `yaml:"for"`
}

func (*PauseStep) Kind() string { return "pause" }

func (s *PauseStep) Validate() error {
	if !validDuration(s.For) {
		return fmt.Errorf("for %v", s.For)
	}
	return checkSelectors("nodes", s.Nodes, true, false)
}

func (s *PauseStep) shrink(_ func(int) int, dur func(time.Duration) time.Duration) Action {
	c := *s
	if c.For > 0 {
		c.For = dur(c.For)
	}
	return &c
}

func (s *PauseStep) run(ctx context.Context, r *runner, i int) error {
	idx, err := r.pick(s.Nodes, r.cl.pool(stateLive))
	if err != nil {
		return err
	}
	for _, h := range idx {
		r.cl.setPaused(h, true)
	}
	r.trouble(idx...)
	r.record(i, "pause", fmt.Sprintf("%v for %v", r.cl.names(idx), s.For))
	if s.For == 0 {
		return nil
	}
	if err := sleep(ctx, s.For); err != nil {
		return err
	}
	r.resume(i, idx)
	return nil
}

// ResumeStep resumes paused nodes.
type ResumeStep struct {
	Nodes []string `yaml:"nodes"`
}

func (*ResumeStep) Kind() string { return "resume" }

func (s *ResumeStep) Validate() error { return checkSelectors("nodes", s.Nodes, true, false) }

func (s *ResumeStep) run(_ context.Context, r *runner, i int) error {
	idx, err := r.pick(s.Nodes, r.cl.pool(statePaused))
	if err != nil {
		return err
	}
	r.resume(i, idx)
	return nil
}

// resume resumes paused hosts and starts the convergence-after-resume clock.
func (r *runner) resume(i int, idx []int) {
	for _, h := range idx {
		r.cl.setPaused(h, false)
	}
	r.trouble(idx...)
	r.ck.resumed(r.now())
	r.record(i, "resume", fmt.Sprint(r.cl.names(idx)))
}
