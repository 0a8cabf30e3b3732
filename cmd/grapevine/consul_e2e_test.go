package main

import (
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestEndToEndConsul runs the agent binary with -consul-http and a Consul
// service definition file: Consul's health endpoint answers it, and a
// client's agent/leave makes the process leave and exit 0.
func TestEndToEndConsul(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test builds and runs an agent process")
	}
	dir := t.TempDir()
	bin := buildBinary(t, dir)
	config := writeAgentConfig(t, dir, e2eGossip)
	services := filepath.Join(dir, "services.d")
	if err := os.MkdirAll(services, 0o755); err != nil {
		t.Fatal(err)
	}
	def := `{"service": {"name": "web", "port": 8080, "tags": ["v1"], "check": {"ttl": "1m", "status": "passing"}}}`
	if err := os.WriteFile(filepath.Join(services, "web.json"), []byte(def), 0o644); err != nil {
		t.Fatal(err)
	}
	ag := &e2eAgent{name: "c1", dataDir: filepath.Join(dir, "data"), extra: []string{"-config-dir", services, "-consul-http", "127.0.0.1:0"}}
	ag.start(t, bin, config, nil)
	consulAddr := listenAddr(t, ag.log.String(), "consul-compatible http api listening", "")
	tr := http.DefaultTransport.(*http.Transport).Clone()
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 5 * time.Second}
	get := func(method, path string) (int, string) {
		req, _ := http.NewRequestWithContext(t.Context(), method, "http://"+consulAddr+path, nil)
		resp, err := client.Do(req)
		if err != nil {
			return 0, err.Error()
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	poll(t, 15*time.Second, "web served by the Consul listener", func() (bool, string) {
		code, body := get("GET", "/v1/health/service/web?passing")
		return code == 200 && strings.Contains(body, `"ID":"web"`) && strings.Contains(body, `"Status":"passing"`), body
	})
	if code, body := get("PUT", "/v1/agent/leave"); code != 200 {
		t.Fatalf("agent/leave: %d %s", code, body)
	}
	select {
	case err := <-ag.exited:
		ag.exited <- err // for Cleanup
		if err != nil {
			t.Fatalf("agent exited with %v after agent/leave, want 0", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("agent did not exit within 15s of agent/leave")
	}
	if !strings.Contains(ag.log.String(), "agent/leave") {
		t.Errorf("the log does not say why the agent stopped")
	}
}
