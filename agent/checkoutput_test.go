package agent_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/grapevine-sd/grapevine/agent/agenttest"
	"github.com/grapevine-sd/grapevine/api"
)

// An HTTP check registered over the API must not turn a write token into a
// reader of other endpoints: its published output is the status line only.
// The same check from an operator's definition file keeps the body (as
// Consul shows it).
func TestAPICheckOutputOmitsBody(t *testing.T) {
	const secret = "metadata-secret-7f3a"
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprint(w, secret)
	}))
	defer srv.Close()
	// Every 10 s (5 s timeout): the outputs are read at single moments,
	// which a probe timing out on a loaded machine would rewrite.
	check := fmt.Sprintf(`{"type":"http","target":%q,"interval":"10s"}`, srv.URL)

	dir := t.TempDir()
	writeFile(t, dir, "file.json", `{"id":"from-file","name":"file","port":80,"checks":[`+check+`]}`)
	cfg := agenttest.Config(t, "node-a")
	cfg.ConfigDir = dir
	a := agenttest.Start(t, cfg)
	c := agenttest.Client(t, a)
	reg := api.Registration{ID: "from-api", Name: "api", Port: 81}
	if err := reg.AddCheck(map[string]any{"type": "http", "target": srv.URL, "interval": "10s"}); err != nil {
		t.Fatal(err)
	}
	mustRegister(t, c, reg)

	output := func(id string) string {
		in, err := c.Instance(t.Context(), "node-a", id)
		if err != nil {
			return ""
		}
		return in.Output
	}
	agenttest.Eventually(t, 15*time.Second, func() (bool, string) {
		f, a := output("from-file"), output("from-api")
		return strings.Contains(f, "200 OK") && strings.Contains(a, "200 OK"), fmt.Sprintf("outputs %q and %q", f, a)
	})
	if got := output("from-api"); strings.Contains(got, secret) {
		t.Errorf("API check published the body: %q", got)
	}
	for _, s := range a.CheckStates() {
		if s.Instance == "from-api" && strings.Contains(s.Output, secret) {
			t.Errorf("API check state holds the body: %q", s.Output)
		}
	}
	if got := output("from-file"); !strings.Contains(got, secret) {
		t.Errorf("file check output %q lacks the body", got)
	}
}
