package sim

import (
	"context"
	"errors"
	"flag"
	"io"
	"os"
	"reflect"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"
)

// ErrBubble: the virtual-time bubble could not run the scenario (it
// deadlocked, or a goroutine outlived it).
var ErrBubble = errors.New("sim: virtual-time bubble failed")

// RunVirtual is Run in virtual time, for programs (grapevine-sim): the whole
// run, memberlist included, runs inside a testing/synctest bubble, so the
// clock jumps whenever every goroutine waits and a scenario takes as long as
// the CPU needs, not as long as it simulates. Tests call Run inside their own
// synctest.Test instead.
//
// A bubble only exists inside a test, so RunVirtual starts the standard
// testing runner (testing.MainStart) with one test; its own output ("PASS")
// is discarded. Call it from one goroutine at a time, never from a test
// binary's test (use synctest.Test there).
//
// Cancelling ctx stops the run within a few virtual tenths of a second (a
// channel of the outside world cannot wake a goroutine in the bubble, so a
// poller inside watches a flag the outside sets); the partial report is
// returned, with the ctx's error, and written to opts.ReportDir. Drain
// defaults to 30 s (longer than memberlist's TCP timeout: probes in flight
// outlive a node's shutdown and must end before the bubble does).
func RunVirtual(ctx context.Context, sc Scenario, opts Options) (Report, error) {
	if opts.Drain == 0 {
		opts.Drain = 30 * time.Second
	}
	var stop atomic.Bool
	release := context.AfterFunc(ctx, func() { stop.Store(true) })
	defer release()
	var rep Report
	var err error
	ran := false
	code := inBubble(func() {
		ictx, cancel := context.WithCancel(context.Background())
		defer cancel()
		done := make(chan struct{})
		var wg sync.WaitGroup
		wg.Go(func() {
			t := time.NewTicker(100 * time.Millisecond)
			defer t.Stop()
			for {
				select {
				case <-done:
					return
				case <-t.C:
					if stop.Load() {
						cancel()
						return
					}
				}
			}
		})
		rep, err = Run(ictx, sc, opts)
		close(done)
		wg.Wait()
		ran = true
	})
	if err != nil && errors.Is(err, context.Canceled) && ctx.Err() != nil {
		err = ctx.Err()
	}
	if !ran || code != 0 {
		return rep, errors.Join(ErrBubble, err)
	}
	return rep, err
}

// inBubble runs f in a synctest bubble under the standard testing runner and
// returns its exit code (0: f returned and the bubble ended cleanly).
func inBubble(f func()) int {
	// Inside a test binary the flags are those of the outer run, whose
	// -test.count=N or -test.cpu=1,2 would run the one test more than once:
	// the scenario runs the first time only.
	var once sync.Once
	m := testing.MainStart(testDeps{}, []testing.InternalTest{{Name: "sim", F: func(t *testing.T) {
		first := false
		once.Do(func() { first = true })
		if !first {
			t.SkipNow()
		}
		synctest.Test(t, func(*testing.T) { f() })
	}}}, nil, nil, nil)
	if !flag.Parsed() {
		// The testing flags are registered on the default set; parse none of
		// the program's own arguments as theirs.
		_ = flag.CommandLine.Parse(nil)
	}
	stdout := os.Stdout
	if null, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0); err == nil {
		os.Stdout = null // the runner prints PASS/FAIL there
		defer func() { os.Stdout = stdout; null.Close() }()
	}
	return m.Run()
}

// corpusEntry is the testing package's fuzzing corpus entry (an alias of an
// unnamed struct type, so this one is identical to it).
type corpusEntry = struct {
	Parent     string
	Path       string
	Data       []byte
	Values     []any
	Generation int
	IsSeed     bool
}

var errNoDeps = errors.New("sim: not supported outside go test")

// testDeps is the minimal dependency set testing.MainStart needs to run
// plain tests (no profiles, fuzzing or coverage).
type testDeps struct{}

func (testDeps) ImportPath() string                          { return "" }
func (testDeps) ModulePath() string                          { return "" }
func (testDeps) MatchString(string, string) (bool, error)    { return true, nil }
func (testDeps) SetPanicOnExit0(bool)                        {}
func (testDeps) StartCPUProfile(io.Writer) error             { return errNoDeps }
func (testDeps) StopCPUProfile()                             {}
func (testDeps) StartTestLog(io.Writer)                      {}
func (testDeps) StopTestLog() error                          { return nil }
func (testDeps) WriteProfileTo(string, io.Writer, int) error { return errNoDeps }
func (testDeps) CoordinateFuzzing(time.Duration, int64, time.Duration, int64, int, []corpusEntry, []reflect.Type, string, string) error {
	return errNoDeps
}
func (testDeps) RunFuzzWorker(func(corpusEntry) error) error { return errNoDeps }
func (testDeps) ReadCorpus(string, []reflect.Type) ([]corpusEntry, error) {
	return nil, errNoDeps
}
func (testDeps) CheckCorpus([]any, []reflect.Type) error { return nil }
func (testDeps) ResetCoverage()                          {}
func (testDeps) SnapshotCoverage()                       {}
func (testDeps) InitRuntimeCoverage() (string, func(string, string) (string, error), func() float64) {
	return "", nil, nil
}
