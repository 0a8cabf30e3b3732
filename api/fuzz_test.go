package api

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// bodyTransport answers every request with status 200, the given content type
// and body, without a network.
type bodyTransport struct {
	ctype string
	body  []byte
	index string
}

func (b bodyTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	h := http.Header{"Content-Type": {b.ctype}}
	if b.index != "" {
		h.Set(IndexHeader, b.index)
	}
	return &http.Response{StatusCode: 200, Header: h, Body: io.NopCloser(bytes.NewReader(b.body)), Request: r}, nil
}

func fuzzClient(t *testing.T, tr bodyTransport) *Client {
	c, err := NewClient(ClientConfig{Address: "127.0.0.1:1", HTTPClient: &http.Client{Transport: tr}, MaxResponseBytes: 1 << 16})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// FuzzDecodeInstances feeds arbitrary response bodies (and index headers) to
// the client's lookup and the other JSON decoders: errors are fine, panics
// are not.
func FuzzDecodeInstances(f *testing.F) {
	f.Add([]byte(`[{"id":"a","service":"web","node":"n","address":"10.0.0.1","port":80,"tags":["x"],"meta":{"k":"v"},"zone":"z","health":"passing","stale":false,"age_ms":0,"version":{"epoch":1,"seq":2}}]`), "3")
	f.Add([]byte(`[]`), "")
	f.Add([]byte(`null`), "x")
	f.Add([]byte(`[{"port":1e400}]`), "-1")
	f.Add([]byte(`{"version":"1","catalog":{"hash":"ab"},"digest":{"n":{"epoch":1,"applied":2}},"preservation":{"since":"2026-01-01T00:00:00Z"}}`), "")
	f.Fuzz(func(t *testing.T, body []byte, index string) {
		c := fuzzClient(t, bodyTransport{ctype: "application/json", body: body, index: index})
		ctx := context.Background()
		insts, _, err := c.Service(ctx, "web", QueryOptions{})
		if err == nil && insts == nil {
			t.Error("nil instances without error")
		}
		_, _ = c.Services(ctx)
		_, _ = c.Members(ctx)
		_, _ = c.Self(ctx)
		_, _ = c.Instance(ctx, "n", "a")
		_, _ = c.Register(ctx, Registration{Name: "web"})
	})
}

// FuzzParseSSE feeds arbitrary stream bodies to the client's stream reader.
func FuzzParseSSE(f *testing.F) {
	f.Add([]byte("id: 1\nevent: reset\ndata: {\"index\":1,\"type\":\"reset\",\"instances\":[{\"id\":\"a\"}]}\n\n"))
	f.Add([]byte("data: {\"index\":2,\"type\":\"upsert\",\"instance\":{\"id\":\"b\"}}\r\n\r\n: ping\r\r"))
	f.Add([]byte("data: a\ndata: b\n\ndata"))
	f.Add([]byte("data: {\"type\":\"delete\"}\n\n"))
	f.Fuzz(func(t *testing.T, body []byte) {
		c := fuzzClient(t, bodyTransport{ctype: StreamContentType, body: body})
		n := 0
		for ev, err := range c.Stream(context.Background(), "web", 0) {
			if err != nil {
				break
			}
			if (ev.Type == EventUpsert || ev.Type == EventDelete) && ev.Instance == nil {
				t.Fatalf("%s event without instance", ev.Type)
			}
			n++
			if n > len(body) {
				t.Fatalf("%d events from %d bytes", n, len(body))
			}
		}
	})
}

// FuzzDecodeRegistration: the agent's decoder of PUT /v1/agent/services.
func FuzzDecodeRegistration(f *testing.F) {
	f.Add([]byte(`{"id":"web-1","name":"web","address":"10.0.0.1","port":8080,"tags":["a"],"meta":{"k":"v"},"zone":"eu","checks":[{"type":"ttl","ttl":"10s"}]}`))
	f.Add([]byte(`{"name":"web","checks":[1]}`))
	f.Add([]byte(`{"status":"passing","output":"ok"}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		reg, err := DecodeRegistration(bytes.NewReader(body))
		if err == nil && (reg.Name == "" || reg.ID == "" || reg.Port < 0 || reg.Port > 65535) {
			t.Fatalf("accepted invalid registration %+v", reg)
		}
		if err != nil && StatusCode(err) == http.StatusInternalServerError {
			t.Fatalf("decoder error maps to 500: %v", err)
		}
		u, err := DecodeTTLUpdate(bytes.NewReader(body))
		if err == nil && !u.Status.Valid() {
			t.Fatalf("accepted status %q", u.Status)
		}
	})
}

// FuzzParseQueryOptions: the agent's parser of lookup query strings.
func FuzzParseQueryOptions(f *testing.F) {
	f.Add("tag=a&tag=b&meta=k:v&zone=z&health=any&index=4&wait=30s")
	f.Add("wait=99999999999999999999")
	f.Add("meta=:&health=")
	f.Fuzz(func(t *testing.T, q string) {
		v, err := url.ParseQuery(q)
		if err != nil {
			return
		}
		o, err := ParseQueryOptions(v)
		if err != nil {
			return
		}
		if o.Wait < 0 || o.Wait > MaxWait || (o.Health != "" && o.Health != HealthAny && !o.Health.Valid()) {
			t.Fatalf("accepted %+v", o)
		}
		// What was accepted re-encodes to something accepted as the same.
		o2, err := ParseQueryOptions(o.Values())
		if err != nil || !strings.EqualFold(o2.Values().Encode(), o.Values().Encode()) {
			t.Fatalf("re-encoding %+v: %+v, %v", o, o2, err)
		}
	})
}
