package render

import (
	"context"
	"errors"
	"slices"
	"sync"
	"time"

	"github.com/grapevine-sd/grapevine/api"
)

// fakeAgent answers lookups from memory and blocks blocking queries like the
// agent does (until the service's index exceeds the query's, or the wait
// passes), with timers that testing/synctest controls. Down makes every
// lookup fail, as a stopped agent does, including those blocked.
type fakeAgent struct {
	mu       sync.Mutex
	services map[string]*fakeService
	list     []api.ServiceSummary
	members  []api.Member
	down     bool
	noBlock  bool          // answer blocking queries at once, as a proxy that strips them would
	changed  chan struct{} // closed and replaced on every change
	calls    map[string]int
	blocked  map[string]int // blocking queries waiting, by service
}

type fakeService struct {
	index uint64
	insts []api.Instance
}

var errAgentDown = errors.New("connect: connection refused")

func newFakeAgent() *fakeAgent {
	return &fakeAgent{services: map[string]*fakeService{}, changed: make(chan struct{}), calls: map[string]int{}, blocked: map[string]int{}}
}

// change runs fn under the lock and wakes the blocked queries.
func (f *fakeAgent) change(fn func()) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fn()
	close(f.changed)
	f.changed = make(chan struct{})
}

// set replaces the instances of a service and bumps its index.
func (f *fakeAgent) set(name string, insts ...api.Instance) {
	f.change(func() {
		s := f.services[name]
		if s == nil {
			s = &fakeService{}
			f.services[name] = s
		}
		s.index++
		s.insts = insts
	})
}

func (f *fakeAgent) setDown(down bool) { f.change(func() { f.down = down }) }

// restart forgets every service, as an agent restarted without its catalog
// does: indexes start over.
func (f *fakeAgent) restart() { f.change(func() { clear(f.services) }) }

func (f *fakeAgent) setMembers(ms ...api.Member) { f.change(func() { f.members = ms }) }

func (f *fakeAgent) callCount(key string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls[key]
}

// blockedOn lists the services with a blocking query waiting, sorted.
func (f *fakeAgent) blockedOn() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for name, n := range f.blocked {
		if n > 0 {
			out = append(out, name)
		}
	}
	slices.Sort(out)
	return out
}

func (f *fakeAgent) Service(ctx context.Context, name string, opts api.QueryOptions) ([]api.Instance, api.QueryMeta, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls[name]++
	timeout := time.After(opts.EffectiveWait())
	for {
		if f.down {
			return nil, api.QueryMeta{}, errAgentDown
		}
		var index uint64
		var insts []api.Instance
		if s := f.services[name]; s != nil {
			index, insts = s.index, s.insts
		}
		if opts.Index == 0 || index > opts.Index || f.noBlock {
			return slices.Clone(insts), api.QueryMeta{Index: index}, nil
		}
		ch := f.changed
		f.blocked[name]++
		f.mu.Unlock()
		var err error
		select {
		case <-ch:
		case <-ctx.Done():
			err = ctx.Err()
		case <-timeout:
			opts.Index = 0 // answer whatever there is
		}
		f.mu.Lock()
		f.blocked[name]--
		if err != nil {
			return nil, api.QueryMeta{}, err
		}
	}
}

func (f *fakeAgent) Services(ctx context.Context) ([]api.ServiceSummary, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls["/services"]++
	if f.down {
		return nil, errAgentDown
	}
	return slices.Clone(f.list), nil
}

func (f *fakeAgent) Members(ctx context.Context) ([]api.Member, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls["/members"]++
	if f.down {
		return nil, errAgentDown
	}
	return slices.Clone(f.members), nil
}
