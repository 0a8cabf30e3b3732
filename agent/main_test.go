package agent_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"iter"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/grapevine-sd/grapevine/agent/agenttest"
	"github.com/grapevine-sd/grapevine/api"
	"github.com/grapevine-sd/grapevine/internal/leaktest"
)

// TestMain fails the package when goroutines outlive the tests: every agent,
// listener, probe and stream must have been stopped by its owner. In-flight
// memberlist probes may outlive Shutdown by up to its TCP timeout, hence 15 s.
func TestMain(m *testing.M) {
	os.Exit(leaktest.Main(m, 15*time.Second))
}

// rawResponse is what raw requests return.
type rawResponse struct {
	code   int
	header http.Header
	body   string
}

// raw sends a request with an optional body, bypassing api.Client, to see
// statuses and bodies exactly as the agent writes them.
func raw(t testing.TB, method, url string, body io.Reader) rawResponse {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, url, body)
	if err != nil {
		t.Fatal(err)
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	defer tr.CloseIdleConnections()
	c := &http.Client{Transport: tr, Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: read body: %v", method, url, err)
	}
	return rawResponse{code: resp.StatusCode, header: resp.Header, body: string(b)}
}

func rawString(t testing.TB, method, url, body string) rawResponse {
	t.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	return raw(t, method, url, r)
}

func jsonUnmarshal(s string, v any) error { return json.Unmarshal([]byte(s), v) }

// events reads a stream in a goroutine of its own until ctx ends or the
// stream fails; the channel closes after the last event (or error).
type streamItem struct {
	ev  api.StreamEvent
	err error
}

func events(ctx context.Context, seq iter.Seq2[api.StreamEvent, error]) <-chan streamItem {
	ch := make(chan streamItem, 64)
	go func() {
		defer close(ch)
		for ev, err := range seq {
			select {
			case ch <- streamItem{ev, err}:
			case <-ctx.Done():
				return
			}
		}
	}()
	return ch
}

// mustNext returns the next event of a stream, failing on an error or after
// 10 s without one.
func mustNext(t *testing.T, ch <-chan streamItem) api.StreamEvent {
	t.Helper()
	select {
	case it, ok := <-ch:
		if !ok || it.err != nil {
			t.Fatalf("stream: %v (open %v)", it.err, ok)
		}
		return it.ev
	case <-time.After(10 * time.Second):
		t.Fatal("no stream event within 10s")
	}
	return api.StreamEvent{}
}

// waitStreams waits until n streams are being served (in the agent's follow
// loop), so a change made next is seen by them as a change.
func waitStreams(t *testing.T, n int) {
	t.Helper()
	agenttest.Eventually(t, 15*time.Second, func() (bool, string) {
		got := goroutinesIn("agent.(*httpServer).follow")
		return got == n, fmt.Sprintf("%d streams following, want %d", got, n)
	})
}

// goroutinesIn counts goroutines with fn on their stack.
func goroutinesIn(fn string) int { return leaktest.Count(fn + "(") }
