package leaktest

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

// parked is a goroutine that runs until stop is closed.
func parked(stop <-chan struct{}, wg *sync.WaitGroup) {
	defer wg.Done()
	<-stop
}

// park starts parked and returns once it runs (before, its stack shows only
// the go statement's wrapper).
func park(stop <-chan struct{}, wg *sync.WaitGroup) {
	wg.Add(1)
	go parked(stop, wg)
	for deadline := time.Now().Add(5 * time.Second); Count("leaktest.parked(") == 0 && time.Now().Before(deadline); {
		time.Sleep(time.Millisecond)
	}
}

func TestWaitFindsALeak(t *testing.T) {
	s := Take()
	stop := make(chan struct{})
	var wg sync.WaitGroup
	park(stop, &wg)
	err := s.Wait(100 * time.Millisecond)
	if err == nil || !strings.Contains(err.Error(), "leaktest.parked(") {
		t.Errorf("Wait with a parked goroutine = %v, want a leak naming leaktest.parked", err)
	}
	close(stop)
	wg.Wait()
	if err := s.Wait(5 * time.Second); err != nil {
		t.Errorf("after the goroutine ended: %v", err)
	}
}

// TestWaitWaitsForSlowOwners: a goroutine that ends within the timeout is not
// a leak.
func TestWaitWaitsForSlowOwners(t *testing.T) {
	s := Take()
	go func() { time.Sleep(50 * time.Millisecond) }()
	if err := s.Wait(5 * time.Second); err != nil {
		t.Error(err)
	}
}

func TestOnlyAndIgnore(t *testing.T) {
	s := Take()
	stop := make(chan struct{})
	var wg sync.WaitGroup
	park(stop, &wg)
	defer func() { close(stop); wg.Wait() }()
	if left := s.Leaked(Only("nothing.matches(")); len(left) != 0 {
		t.Errorf("Only(other): %d counted, want 0", len(left))
	}
	if left := s.Leaked(Only("leaktest.parked(")); len(left) != 1 {
		t.Errorf("Only(parked): %d counted, want 1", len(left))
	}
	if left := s.Leaked(Ignore("leaktest.parked(")); len(left) != 0 {
		t.Errorf("Ignore(parked): %d counted, want 0", len(left))
	}
	if n := Count("leaktest.parked("); n != 1 {
		t.Errorf("Count = %d, want 1", n)
	}
}

// TestCheckReportsThroughTB: Check fails the test whose goroutine outlives it.
func TestCheckReportsThroughTB(t *testing.T) {
	stop := make(chan struct{})
	var wg sync.WaitGroup
	rec := &recorder{TB: t}
	func() {
		defer rec.cleanup()
		Check(rec, 50*time.Millisecond)
		park(stop, &wg)
	}()
	close(stop)
	wg.Wait()
	if !strings.Contains(rec.errs, "leaktest.parked(") {
		t.Errorf("Check reported %q, want the parked goroutine", rec.errs)
	}
}

// recorder is a testing.TB whose cleanups run on demand and whose errors are
// recorded instead of failing the real test.
type recorder struct {
	testing.TB
	cleanups []func()
	errs     string
}

func (r *recorder) Helper()           {}
func (r *recorder) Failed() bool      { return false }
func (r *recorder) Cleanup(f func())  { r.cleanups = append(r.cleanups, f) }
func (r *recorder) Error(args ...any) { r.errs += fmt.Sprint(args...) }
func (r *recorder) cleanup() {
	for i := len(r.cleanups) - 1; i >= 0; i-- {
		r.cleanups[i]()
	}
}
