package agent_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/grapevine-sd/grapevine/agent"
	"github.com/grapevine-sd/grapevine/agent/agenttest"
	"github.com/grapevine-sd/grapevine/api"
	"github.com/grapevine-sd/grapevine/gossip"
	"github.com/grapevine-sd/grapevine/gossip/gossiptest"
)

// chromium finds a Chromium binary, or skips the test saying how to get one.
func chromium(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("GRAPEVINE_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "headless-shell"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Skip("no Chromium (chromium, chromium-browser, google-chrome or headless-shell in PATH, or $GRAPEVINE_CHROMIUM): install it with `make deps-ui` (Debian package chromium)")
	return ""
}

// oddMember joins a bare gossip node to the agent at addr whose metadata
// carries a fingerprint no agent has: a member that disagrees for good.
func oddMember(t *testing.T, name, addr string) {
	t.Helper()
	cfg := gossip.DefaultConfig()
	cfg.Name = name
	cfg.BindAddr, cfg.BindPort = "127.0.0.1", 0
	cfg.Meta = agent.FingerprintMetaForTest("eu-9", 0xbad)
	cfg.Tune = agenttest.FastTimers
	cfg.EnableCompression = false
	n, err := gossip.New(cfg, gossiptest.NewMemStore(name, 1))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	if _, err := n.Join(t.Context(), []string{addr}); err != nil {
		t.Fatal(err)
	}
}

// The console in a real browser: a registration made through the API shows
// up without a reload, the filters work, IPv6 addresses are bracketed, and a
// member whose fingerprint differs is highlighted. Screenshots go to the
// test's temp dir ($GRAPEVINE_UI_SCREENSHOTS to keep them elsewhere).
func TestUIInBrowser(t *testing.T) {
	bin := chromium(t)
	cfgA := agenttest.Config(t, "node-a")
	cfgA.Zone = "eu-1"
	a := agenttest.Start(t, cfgA)
	cfgB := agenttest.Config(t, "node-b")
	cfgB.Zone = "eu-2"
	cfgB.Join = []string{agenttest.GossipAddr(t, a)}
	b := agenttest.Start(t, cfgB)
	oddMember(t, "node-odd", agenttest.GossipAddr(t, a))
	ca, cb := agenttest.Client(t, a), agenttest.Client(t, b)
	agenttest.Eventually(t, 15*time.Second, func() (bool, string) {
		s := a.Self()
		return s.Members.Alive == 3, fmt.Sprintf("members %+v", s.Members)
	})

	mustRegister(t, ca, api.Registration{ID: "web-1", Name: "web", Address: "::1", Port: 8081, Tags: []string{"http", "v2"}})
	mustRegister(t, cb, api.Registration{ID: "web-2", Name: "web", Address: "10.0.0.2", Port: 8081, Tags: []string{"http"}})
	mustRegister(t, cb, api.Registration{ID: "db-1", Name: "db", Address: "10.0.0.3", Port: 5432, Tags: []string{"primary"}})
	reg := api.Registration{ID: "api-1", Name: "api", Port: 9000, Tags: []string{"grpc"}}
	if err := reg.AddCheck(api.CheckDefinition{ID: "api-ttl", Type: "ttl", TTL: "1m"}); err != nil {
		t.Fatal(err)
	}
	mustRegister(t, ca, reg)
	if err := ca.UpdateTTL(t.Context(), "api-ttl", api.TTLUpdate{Status: api.HealthWarning, Output: "queue depth 120 > 100"}); err != nil {
		t.Fatal(err)
	}
	for i := range 22 {
		mustRegister(t, cb, api.Registration{ID: fmt.Sprintf("batch-%02d", i), Name: fmt.Sprintf("batch-%02d", i), Port: 7000 + i, Tags: []string{"batch"}})
	}
	for i := range 55 {
		mustRegister(t, cb, api.Registration{ID: fmt.Sprintf("fleet-%02d", i), Name: "fleet", Port: 6000 + i})
	}
	// The first page is counted at once below: every registration of node-b
	// must have reached node-a (the last ones registered, not just db).
	waitIDs(t, ca, "db", 15*time.Second, "node-b/db-1")
	waitIDs(t, ca, "batch-21", 15*time.Second, "node-b/batch-21")
	agenttest.Eventually(t, 15*time.Second, func() (bool, string) {
		return a.Self().Catalog.Hash == b.Self().Catalog.Hash, "node-a and node-b catalogs differ"
	})

	shots := os.Getenv("GRAPEVINE_UI_SCREENSHOTS")
	if shots == "" {
		shots = t.TempDir()
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(bin), chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.WindowSize(1280, 860), chromedp.Flag("disable-dev-shm-usage", true))
	actx, cancelA := chromedp.NewExecAllocator(t.Context(), opts...)
	defer cancelA()
	bctx, cancelB := chromedp.NewContext(actx)
	defer cancelB()
	// The first run starts the browser, bound to the context it is given: give
	// it bctx, so the per-step timeouts below do not end the browser.
	if err := chromedp.Do(bctx); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	ctx, cancel := context.WithTimeout(bctx, 3*time.Minute) // the whole session; each step has 20 s
	defer cancel()

	base := "http://" + a.HTTPAddr() + "/ui"
	do := func(what string, steps ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
		defer cancel()
		if err := chromedp.Do(ctx, steps...); err != nil {
			page, perr := chromedp.Run(bctx, chromedp.Evaluate[string](`location.href + "\n" + document.body.innerText`))
			t.Fatalf("%s: %v; the page said (%v):\n%s", what, err, perr, page)
		}
	}
	eval := func(expr string) {
		t.Helper()
		if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](expr)); err != nil {
			t.Fatalf("evaluate %s: %v", expr, err)
		}
	}
	shot := func(name string) {
		t.Helper()
		buf, err := chromedp.Run(ctx, chromedp.FullScreenshot(100)) // 100: PNG
		if err != nil {
			t.Fatalf("screenshot: %v", err)
		}
		path := filepath.Join(shots, name+".png")
		if err := os.WriteFile(path, buf, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("screenshot %s", path)
	}
	rows := func(sel string) []string {
		t.Helper()
		out, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](fmt.Sprintf(`[...document.querySelectorAll(%q)].map(e => e.dataset.service || e.dataset.member || e.dataset.instance)`, sel)))
		if err != nil {
			t.Fatalf("rows %s: %v", sel, err)
		}
		return out
	}
	// waitText waits until the text of sel satisfies ok (the page re-renders
	// rows as data arrives: a row read mid-render may be detached).
	waitText := func(sel string, ok func(string) bool) {
		t.Helper()
		agenttest.Eventually(t, 15*time.Second, func() (bool, string) {
			got, err := chromedp.Run(ctx, chromedp.Text(sel))
			return err == nil && ok(got), fmt.Sprintf("%s: %q, %v", sel, got, err)
		})
	}
	// waitRows waits until the rows of sel are want (comma-separated keys).
	waitRows := func(sel, want string) {
		t.Helper()
		agenttest.Eventually(t, 15*time.Second, func() (bool, string) {
			got := strings.Join(rows(sel), ",")
			return got == want, fmt.Sprintf("%s: %s, want %s", sel, got, want)
		})
	}
	// filter sets a select's value as a user would (an input event follows).
	filter := func(id, value string) {
		eval(fmt.Sprintf(`(e => { e.value = %q; e.dispatchEvent(new Event('input')); return true })(document.getElementById(%q))`, value, id))
	}

	do("open the services view",
		chromedp.Navigate(base+"#/services"),
		chromedp.WaitVisible(`#services-table tr[data-service="batch-00"]`),
	)
	eval(`window.__noReload = true`)
	// Paging: 26 services, 20 a page.
	if got := rows("#services-table tbody tr"); len(got) != 20 {
		t.Errorf("first page: %d rows, want 20: %v", len(got), got)
	}
	do("next page", chromedp.Click(`#page-next`), chromedp.WaitVisible(`#services-table tr[data-service="web"]`))
	waitRows("#services-table tbody tr", "batch-19,batch-20,batch-21,db,fleet,web")
	shot("services")

	// A registration through the API appears without a reload.
	mustRegister(t, cb, api.Registration{ID: "late-1", Name: "late", Port: 1, Tags: []string{"new"}})
	do("live update", chromedp.SendKeys(`#f-name`, "lat"), chromedp.WaitVisible(`#services-table tr[data-service="late"]`))
	if got, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`window.__noReload === true`)); err != nil || !got {
		t.Errorf("the page reloaded (%v)", err)
	}
	waitRows("#services-table tbody tr", "late")
	// Filters: tag, zone, health.
	filter("f-name", "")
	filter("f-tag", "http")
	waitRows("#services-table tbody tr", "web")
	filter("f-tag", "")
	filter("f-zone", "eu-1")
	waitRows("#services-table tbody tr", "api,web")
	filter("f-zone", "")
	filter("f-health", "warning")
	waitRows("#services-table tbody tr", "api")
	filter("f-health", "")

	// One service: its instances, IPv6 bracketed, and the check's state.
	do("service view", chromedp.Navigate(base+"#/service/web"), chromedp.WaitVisible(`tr[data-instance="node-a/web-1"]`))
	waitText(`tr[data-instance="node-a/web-1"] td:nth-child(3)`, func(s string) bool { return s == "[::1]:8081" })
	do("checks", chromedp.Navigate(base+"#/service/api"), chromedp.WaitVisible(`tr[data-check="api-ttl"]`))
	waitText(`tr[data-check="api-ttl"]`, func(s string) bool { return strings.Contains(s, "warning") && strings.Contains(s, "queue depth 120") })
	shot("service")
	// A service's instances page by 50.
	do("instances paged", chromedp.Navigate(base+"#/service/fleet"), chromedp.WaitVisible(`tr[data-instance="node-b/fleet-00"]`))
	agenttest.Eventually(t, 15*time.Second, func() (bool, string) {
		got := rows("#instances-table tbody tr[data-instance]")
		return len(got) == 50 && got[49] == "node-b/fleet-49", fmt.Sprintf("first page: %d rows", len(got))
	})
	do("next instances", chromedp.Click(`#ipage-next`))
	waitRows("#instances-table tbody tr[data-instance]", "node-b/fleet-50,node-b/fleet-51,node-b/fleet-52,node-b/fleet-53,node-b/fleet-54")

	// Members: the odd one disagrees and is highlighted; the agents agree.
	do("members view",
		chromedp.Navigate(base+"#/members"),
		chromedp.WaitVisible(`tr[data-member="node-odd"].disagree`),
		chromedp.WaitVisible(`tr[data-member="node-b"]`),
	)
	waitRows("#members-table tr.disagree", "node-odd")
	shot("members")
	do("overview", chromedp.Navigate(base+"#/overview"), chromedp.WaitVisible(`#agreement-svg polyline`))
	waitText(`#agree-ratio`, func(s string) bool { return s == "66.7%" }) // 2 of 3, once node-b caught up
	shot("overview")

	// With ACLs on (deny without a token) the page still loads, says a token
	// is needed, and shows everything once a read token is entered: the
	// stream, read with fetch, carries it too.
	cfgD := agenttest.Config(t, "node-d")
	cfgD.ACL = aclConfig("deny")
	d := agenttest.Start(t, cfgD)
	if _, err := d.Register(api.Registration{ID: "vault-1", Name: "vault", Port: 8200}); err != nil {
		t.Fatal(err)
	}
	do("open the console of an agent with ACLs",
		chromedp.Navigate("http://"+d.HTTPAddr()+"/ui#/services"),
		chromedp.WaitVisible(`#banner-acl`),
	)
	waitText(`#acl`, func(s string) bool { return s == "ACL: token required" })
	if got := rows("#services-table tbody tr"); len(got) != 0 {
		t.Errorf("services shown without a token: %v", got)
	}
	shot("acl-required")
	do("enter a read token",
		chromedp.Click(`#token-btn`),
		chromedp.SendKeys(`#token`, secRead),
		chromedp.Click(`#token-form button[type="submit"]`),
		chromedp.WaitVisible(`#services-table tr[data-service="vault"]`),
		chromedp.WaitNotPresent(`#banner-acl`),
	)
	waitText(`#acl`, func(s string) bool { return s == "ACL: token in use" })
	if got, err := chromedp.Run(ctx, chromedp.Evaluate[string](`sessionStorage.getItem('grapevine.token')`)); err != nil || got != secRead {
		t.Errorf("token in sessionStorage: %q, %v", got, err)
	}
	// Live with the token: a new registration arrives over the stream.
	if _, err := d.Register(api.Registration{ID: "vault-2", Name: "vault-dr", Port: 8200}); err != nil {
		t.Fatal(err)
	}
	do("live update with a token", chromedp.WaitVisible(`#services-table tr[data-service="vault-dr"]`))
}
