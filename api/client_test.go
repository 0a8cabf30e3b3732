package api

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/grapevine-sd/grapevine/internal/testaddr"
)

// newTestClient serves mux on a loopback httptest server.
func newTestClient(t *testing.T, mux http.Handler, cfg ClientConfig) *Client {
	t.Helper()
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	cfg.Address = srv.URL
	c, err := NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestParseAddress(t *testing.T) {
	tests := []struct {
		in, want string
		wantErr  bool
	}{
		{"127.0.0.1:7947", "http://127.0.0.1:7947", false},
		{"[::1]:7947", "http://[::1]:7947", false},
		{"https://agent.example:443/prefix/", "https://agent.example:443/prefix", false},
		{"ftp://x:1", "", true},
		{"http://", "", true},
		{"http://u:p@h:1", "", true},
		{"h:1?x=1", "", true},
	}
	for _, tt := range tests {
		u, err := parseAddress(tt.in)
		if (err != nil) != tt.wantErr {
			t.Errorf("%q: err = %v, wantErr %v", tt.in, err, tt.wantErr)
			continue
		}
		if err == nil && u.String() != tt.want {
			t.Errorf("%q: got %q, want %q", tt.in, u.String(), tt.want)
		}
	}
}

func TestNewClientAddressFromEnv(t *testing.T) {
	t.Setenv(AddressEnv, "10.1.2.3:9000")
	c, err := NewClient(ClientConfig{})
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Address(); got != "http://10.1.2.3:9000" {
		t.Errorf("got %q", got)
	}
	t.Setenv(AddressEnv, "")
	c, _ = NewClient(ClientConfig{})
	if got := c.Address(); got != "http://"+DefaultAddress {
		t.Errorf("default: got %q", got)
	}
	if _, err := NewClient(ClientConfig{Timeout: -1}); err == nil {
		t.Error("negative timeout accepted")
	}
}

func TestClientRequests(t *testing.T) {
	type seen struct{ method, path, rawQuery, body string }
	var got seen
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got = seen{r.Method, r.URL.EscapedPath(), r.URL.RawQuery, string(b)}
		switch {
		case r.URL.Path == "/pre/v1/services/we b":
			w.Header().Set(IndexHeader, "17")
			WriteJSON(w, 200, []Instance{{ID: "a", Service: "we b"}})
		case r.URL.Path == "/pre/v1/agent/services" && r.Method == http.MethodPut:
			WriteJSON(w, 200, Instance{ID: "web", Node: "n1"})
		case r.Method == http.MethodGet:
			w.Write([]byte("null"))
		default:
			w.WriteHeader(http.StatusNoContent)
		}
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()
	c, err := NewClient(ClientConfig{Address: srv.URL + "/pre"})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()

	insts, meta, err := c.Service(ctx, "we b", QueryOptions{Tags: []string{"v/2"}, Health: HealthAny, Index: 3, Wait: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if want := (seen{"GET", "/pre/v1/services/we%20b", "health=any&index=3&tag=v%2F2&wait=1s", ""}); got != want {
		t.Errorf("Service request: got %+v, want %+v", got, want)
	}
	if meta.Index != 17 || len(insts) != 1 || insts[0].ID != "a" {
		t.Errorf("Service: got %+v %+v", insts, meta)
	}

	inst, err := c.Register(ctx, Registration{ID: "web", Name: "web", Port: 80})
	if err != nil || inst.Node != "n1" {
		t.Fatalf("Register: %+v, %v", inst, err)
	}
	if want := (seen{"PUT", "/pre/v1/agent/services", "", `{"id":"web","name":"web","port":80}`}); got != want {
		t.Errorf("Register request: got %+v, want %+v", got, want)
	}

	calls := []struct {
		call func() error
		want seen
	}{
		{func() error { return c.Deregister(ctx, "a/b") }, seen{"DELETE", "/pre/v1/agent/services/a%2Fb", "", ""}},
		{func() error { return c.Maintenance(ctx, "x", true, "deploy 7") }, seen{"PUT", "/pre/v1/agent/services/x/maintenance", "enable=true&reason=deploy+7", ""}},
		{func() error { return c.Maintenance(ctx, "x", false, "") }, seen{"PUT", "/pre/v1/agent/services/x/maintenance", "enable=false", ""}},
		{func() error { return c.UpdateTTL(ctx, "c1", TTLUpdate{Status: HealthWarning, Output: "slow"}) }, seen{"PUT", "/pre/v1/agent/checks/c1/ttl", "", `{"status":"warning","output":"slow"}`}},
		{func() error { _, err := c.Services(ctx); return err }, seen{"GET", "/pre/v1/services", "", ""}},
		{func() error { _, err := c.Members(ctx); return err }, seen{"GET", "/pre/v1/members", "", ""}},
		{func() error { _, err := c.Self(ctx); return err }, seen{"GET", "/pre/v1/agent/self", "", ""}},
		{func() error { _, err := c.Instance(ctx, "n1", "a"); return err }, seen{"GET", "/pre/v1/instances/n1/a", "", ""}},
	}
	for _, tt := range calls {
		if err := tt.call(); err != nil {
			t.Errorf("%+v: %v", tt.want, err)
		}
		if got != tt.want {
			t.Errorf("got %+v, want %+v", got, tt.want)
		}
	}
	if err := c.Deregister(ctx, ""); !errors.Is(err, ErrInvalid) {
		t.Errorf("empty id: err = %v, want ErrInvalid", err)
	}
}

func TestClientEmptyServiceIsEmptySlice(t *testing.T) {
	c := newTestClient(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("[]"))
	}), ClientConfig{})
	insts, _, err := c.Service(context.Background(), "none", QueryOptions{})
	if err != nil || insts == nil || len(insts) != 0 {
		t.Errorf("got %#v, %v; want empty non-nil slice", insts, err)
	}
}

func TestClientErrors(t *testing.T) {
	tests := []struct {
		name     string
		handler  http.HandlerFunc
		cfg      ClientConfig
		wantCode int
		wantMsg  string
		notFound bool
		wantErr  error
	}{
		{name: "json 404", handler: func(w http.ResponseWriter, r *http.Request) { WriteError(w, 404, "instance not found") }, wantCode: 404, wantMsg: "instance not found", notFound: true},
		{name: "plain 500", handler: func(w http.ResponseWriter, r *http.Request) { http.Error(w, "boom", 500) }, wantCode: 500, wantMsg: "boom"},
		{name: "empty 405", handler: func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(405) }, wantCode: 405, wantMsg: "Method Not Allowed"},
		{name: "too large", handler: func(w http.ResponseWriter, r *http.Request) {
			w.Write([]byte(`{"id":"` + strings.Repeat("x", 100) + `"}`))
		}, cfg: ClientConfig{MaxResponseBytes: 50}, wantErr: ErrTooLarge},
		{name: "garbage", handler: func(w http.ResponseWriter, r *http.Request) { w.Write([]byte(`{"id":`)) }},
		{name: "timeout", handler: func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() }, cfg: ClientConfig{Timeout: 20 * time.Millisecond}, wantErr: context.DeadlineExceeded},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newTestClient(t, tt.handler, tt.cfg)
			_, err := c.Instance(context.Background(), "n", "i")
			if err == nil {
				t.Fatal("no error")
			}
			if errors.Is(err, ErrNotFound) != tt.notFound {
				t.Errorf("errors.Is(%v, ErrNotFound) = %v", err, !tt.notFound)
			}
			if tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
				t.Errorf("err = %v, want %v", err, tt.wantErr)
			}
			var se *StatusError
			if tt.wantCode != 0 {
				if !errors.As(err, &se) || se.Code != tt.wantCode || se.Message != tt.wantMsg {
					t.Errorf("err = %#v, want StatusError{%d, %q}", err, tt.wantCode, tt.wantMsg)
				}
			} else if errors.As(err, &se) {
				t.Errorf("unexpected StatusError %v", se)
			}
		})
	}
}

func TestClientUnreachable(t *testing.T) {
	addr := testaddr.Refused(t) // no agent there, and no other program either
	c, err := NewClient(ClientConfig{Address: addr})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Members(context.Background())
	var se *StatusError
	if err == nil || errors.As(err, &se) {
		t.Errorf("err = %v, want a transport error", err)
	}
}

// streamServer writes the given raw SSE text, then blocks until the client
// goes away (hold) or returns (closing the stream).
func streamServer(t *testing.T, raw string, hold bool, gotQuery chan<- string) *Client {
	return newTestClient(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if gotQuery != nil {
			gotQuery <- r.URL.RawQuery + " last=" + r.Header.Get("Last-Event-ID")
		}
		w.Header().Set("Content-Type", StreamContentType+"; charset=utf-8")
		w.WriteHeader(200)
		io.WriteString(w, raw)
		w.(http.Flusher).Flush()
		if hold {
			<-r.Context().Done()
		}
	}), ClientConfig{})
}

func sseText(t *testing.T, evs ...StreamEvent) string {
	var b strings.Builder
	for _, ev := range evs {
		if err := WriteEvent(&b, ev); err != nil {
			t.Fatal(err)
		}
	}
	return b.String()
}

func TestStream(t *testing.T) {
	evs := []StreamEvent{
		{Index: 5, Type: EventReset, Instances: []Instance{{ID: "a", Node: "n"}}},
		{Index: 6, Type: EventUpsert, Instance: &Instance{ID: "b", Node: "n"}},
		{Index: 7, Type: EventDelete, Instance: &Instance{ID: "a", Node: "n"}},
	}
	raw := sseText(t, evs[0]) + "event: future\ndata: {\"index\":6,\"type\":\"future\"}\n\n: ping\n\n" + sseText(t, evs[1:]...)
	q := make(chan string, 1)
	c := streamServer(t, raw, false, q)
	var got []StreamEvent
	var end error
	for ev, err := range c.Stream(context.Background(), "web", 4) {
		if err != nil {
			end = err
			break
		}
		got = append(got, ev)
	}
	if !sameJSON(got, evs) {
		t.Errorf("events: got %+v, want %+v", got, evs)
	}
	if !errors.Is(end, ErrStreamEnded) {
		t.Errorf("end: %v, want ErrStreamEnded", end)
	}
	if got, want := <-q, "index=4&service=web last=4"; got != want {
		t.Errorf("query: got %q, want %q", got, want)
	}
}

func TestStreamBreakAndCancel(t *testing.T) {
	raw := sseText(t, StreamEvent{Index: 1, Type: EventReset}, StreamEvent{Index: 2, Type: EventReset})
	c := streamServer(t, raw, true, nil)
	n := 0
	for _, err := range c.Stream(context.Background(), "web", 0) {
		if err != nil {
			t.Fatal(err)
		}
		n++
		break
	}
	if n != 1 {
		t.Errorf("got %d events before break", n)
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var end error
	for ev, err := range c.Stream(ctx, "web", 0) {
		if err != nil {
			end = err
			break
		}
		if ev.Index == 2 {
			cancel()
		}
	}
	if !errors.Is(end, context.Canceled) {
		t.Errorf("after cancel: %v, want context.Canceled", end)
	}
}

func TestStreamRejects(t *testing.T) {
	tests := []struct {
		name    string
		handler http.HandlerFunc
	}{
		{"not sse", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("[]")) }},
		{"400", func(w http.ResponseWriter, r *http.Request) { WriteError(w, 400, "service is required") }},
		{"bad event", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", StreamContentType)
			io.WriteString(w, "data: {\"type\":\"upsert\"}\n\n")
		}},
	}
	for _, tt := range tests {
		c := newTestClient(t, tt.handler, ClientConfig{})
		var errs []error
		for _, err := range c.Stream(context.Background(), "web", 0) {
			errs = append(errs, err)
		}
		if len(errs) != 1 || errs[0] == nil || errors.Is(errs[0], ErrStreamEnded) {
			t.Errorf("%s: got %v, want one error", tt.name, errs)
		}
	}
}
