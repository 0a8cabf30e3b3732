package compattest

import (
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/grapevine-sd/grapevine/agent"
	"github.com/grapevine-sd/grapevine/agent/agenttest"
	consul "github.com/hashicorp/consul/api"
	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

// startPair starts two joined agents with the Consul-compatible listener on
// ephemeral loopback ports: a registers, b answers.
func startPair(t *testing.T) (a, b *agent.Agent) {
	t.Helper()
	mk := func(name string) *agent.Agent {
		cfg := agenttest.Config(t, name)
		cfg.Consul.HTTP = "127.0.0.1:0"
		return agenttest.Start(t, cfg)
	}
	a, b = mk("node-a"), mk("node-b")
	if _, err := b.Node().Join(t.Context(), []string{agenttest.GossipAddr(t, a)}); err != nil {
		t.Fatal(err)
	}
	agenttest.Eventually(t, 15*time.Second, func() (bool, string) {
		return len(a.Members()) == 2 && len(b.Members()) == 2, "the two agents see each other"
	})
	return a, b
}

// consulClient is a real consul/api client for an agent's Consul listener,
// with a transport of its own whose idle connections the test closes.
func consulClient(t *testing.T, a *agent.Agent) *consul.Client {
	t.Helper()
	cfg := consul.DefaultConfig()
	cfg.Address = a.ConsulAddr()
	tr := http.DefaultTransport.(*http.Transport).Clone()
	t.Cleanup(tr.CloseIdleConnections)
	cfg.HttpClient = &http.Client{Transport: tr}
	c, err := consul.NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// grpcHealth serves grpc.health.v1 on loopback with service "rpc" serving.
func grpcHealth(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := grpc.NewServer()
	hs := health.NewServer()
	hs.SetServingStatus("rpc", healthpb.HealthCheckResponse_SERVING)
	healthpb.RegisterHealthServer(s, hs)
	go func() { _ = s.Serve(ln) }()
	t.Cleanup(s.Stop)
	return ln.Addr().String()
}

// httpHealth serves 200 on loopback.
func httpHealth(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte("ok")) })}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return ln.Addr().String()
}

// TestConsulAPIClient drives the compat listeners of two real agents with
// github.com/hashicorp/consul/api: register with HTTP, TCP, gRPC and TTL
// checks on one, read from the other, block on a change, TTL updates,
// maintenance and deregistration.
func TestConsulAPIClient(t *testing.T) {
	a, b := startPair(t)
	ca, cb := consulClient(t, a), consulClient(t, b)
	web := httpHealth(t)
	rpc := grpcHealth(t)

	reg := &consul.AgentServiceRegistration{
		ID: "web-1", Name: "web", Tags: []string{"v1", "edge"}, Port: 8080, Address: "127.0.0.1",
		Meta: map[string]string{"version": "1.0"},
		// Probes every 10 s with a 5 s timeout: the test reads their state
		// at single moments, which a probe timing out on a loaded machine
		// (with a 500 ms timeout) would turn critical.
		Checks: consul.AgentServiceChecks{
			{CheckID: "web-http", HTTP: "http://" + web + "/health", Interval: "10s", Timeout: "5s"},
			{CheckID: "web-tcp", TCP: web, Interval: "10s"},
			{CheckID: "web-grpc", GRPC: rpc + "/rpc", Interval: "10s"},
			{CheckID: "web-ttl", TTL: "30s", Status: consul.HealthPassing},
		},
	}
	if err := ca.Agent().ServiceRegister(reg); err != nil {
		t.Fatalf("ServiceRegister: %v", err)
	}

	// b sees it passing once every probe has passed.
	var idx uint64
	agenttest.Eventually(t, 15*time.Second, func() (bool, string) {
		es, meta, err := cb.Health().Service("web", "v1", true, nil)
		if err != nil {
			return false, err.Error()
		}
		idx = meta.LastIndex
		return len(es) == 1 && es[0].Service.ID == "web-1" && es[0].Node.Node == "node-a", "web-1 passing at node-b"
	})
	es, meta, err := cb.Health().Service("web", "", false, nil)
	if err != nil || len(es) != 1 {
		t.Fatalf("Health().Service: %v %v", es, err)
	}
	if !meta.KnownLeader || meta.LastContact != 0 || meta.LastIndex == 0 {
		t.Errorf("query meta = %+v, want a known leader, no last contact, an index", meta)
	}
	if st := es[0].Checks.AggregatedStatus(); st != consul.HealthPassing {
		t.Errorf("AggregatedStatus = %s", st)
	}
	if es[0].Node.Address != "127.0.0.1" || es[0].Service.Port != 8080 || es[0].Service.Meta["version"] != "1.0" {
		t.Errorf("entry = %+v %+v", es[0].Node, es[0].Service)
	}
	svcs, _, err := cb.Catalog().Services(nil)
	if err != nil || strings.Join(svcs["web"], ",") != "edge,v1" {
		t.Errorf("Catalog().Services = %v %v", svcs, err)
	}
	checks, err := ca.Agent().Checks()
	if err != nil {
		t.Fatal(err)
	}
	for id, typ := range map[string]string{"web-http": "http", "web-tcp": "tcp", "web-grpc": "grpc", "web-ttl": "ttl"} {
		if c := checks[id]; c == nil || c.Type != typ || c.Status != consul.HealthPassing {
			t.Errorf("check %s = %+v, want %s passing", id, c, typ)
		}
	}

	// The other read endpoints decode into consul/api's own types.
	cs, _, err := cb.Catalog().Service("web", "edge", nil)
	if err != nil || len(cs) != 1 || cs[0].ServiceID != "web-1" || cs[0].Node != "node-a" || cs[0].ServicePort != 8080 {
		t.Errorf("Catalog().Service = %+v %v", cs, err)
	}
	hc, _, err := cb.Health().Checks("web", nil)
	if err != nil || len(hc) != 1 || hc[0].ServiceID != "web-1" || hc[0].Status != consul.HealthPassing {
		t.Errorf("Health().Checks = %+v %v", hc, err)
	}
	hn, _, err := cb.Health().Node("node-a", nil)
	if err != nil || len(hn) != 2 || hn[0].CheckID != "serfHealth" {
		t.Errorf("Health().Node = %+v %v", hn, err)
	}
	if crit, _, err := cb.Health().State(consul.HealthCritical, nil); err != nil || len(crit) != 0 {
		t.Errorf("Health().State(critical) = %+v %v", crit, err)
	}
	cn, _, err := cb.Catalog().Node("node-a", nil)
	if err != nil || cn == nil || cn.Node.Node != "node-a" || cn.Services["web-1"] == nil {
		t.Errorf("Catalog().Node = %+v %v", cn, err)
	}
	as, err := ca.Agent().Services()
	if err != nil || as["web-1"] == nil || as["web-1"].Service != "web" || as["web-1"].Weights.Passing != 1 {
		t.Errorf("Agent().Services = %+v %v", as, err)
	}
	one, qm, err := ca.Agent().Service("web-1", nil)
	if err != nil || one.ID != "web-1" || qm.LastContentHash == "" {
		t.Errorf("Agent().Service = %+v %+v %v", one, qm, err)
	}
	filtered, _, err := cb.Health().Service("web", "", false, &consul.QueryOptions{Filter: `Service.Meta.version == "1.0" and "edge" in Service.Tags`})
	if err != nil || len(filtered) != 1 {
		t.Errorf("Health().Service with a filter = %v %v", filtered, err)
	}
	if _, _, err := cb.Health().Service("web", "", false, &consul.QueryOptions{Filter: `Service.Nope == "x"`}); err == nil || !strings.Contains(err.Error(), "400") {
		t.Errorf("a filter on a missing field: %v, want a 400", err)
	}

	// A blocking query at b returns when the TTL check fails at a.
	type result struct {
		es   []*consul.ServiceEntry
		meta *consul.QueryMeta
		err  error
	}
	done := make(chan result, 1)
	go func() {
		es, meta, err := cb.Health().Service("web", "", true, &consul.QueryOptions{WaitIndex: idx, WaitTime: 30 * time.Second})
		done <- result{es, meta, err}
	}()
	changed := time.Now()
	if err := ca.Agent().FailTTL("web-ttl", "db down"); err != nil {
		t.Fatalf("FailTTL: %v", err)
	}
	select {
	case r := <-done:
		if r.err != nil || len(r.es) != 0 || r.meta.LastIndex <= idx {
			t.Errorf("blocking query after FailTTL: %v entries, meta %+v, err %v", len(r.es), r.meta, r.err)
		}
		t.Logf("consul/api: a blocking query at another agent returned %v after the TTL failed", time.Since(changed).Round(time.Millisecond))
	case <-time.After(20 * time.Second):
		t.Fatal("blocking query did not return on a change")
	}
	if st, info, err := ca.Agent().AgentHealthServiceByID("web-1"); err != nil || st != consul.HealthCritical || info == nil || len(info.Checks) != 4 {
		t.Errorf("AgentHealthServiceByID after FailTTL = %s %+v %v", st, info, err)
	}
	if err := ca.Agent().UpdateTTL("web-ttl", "fine", consul.HealthPassing); err != nil {
		t.Fatalf("UpdateTTL: %v", err)
	}
	agenttest.Eventually(t, 15*time.Second, func() (bool, string) {
		es, _, err := cb.Health().Service("web", "", true, nil)
		return err == nil && len(es) == 1, "web-1 passing again"
	})

	agenttest.Eventually(t, 15*time.Second, func() (bool, string) {
		st, infos, err := ca.Agent().AgentHealthServiceByName("web")
		return err == nil && st == consul.HealthPassing && len(infos) == 1, "AgentHealthServiceByName passing"
	})

	// Maintenance takes it out of passing queries, with Consul's check.
	if err := ca.Agent().EnableServiceMaintenance("web-1", "deploy"); err != nil {
		t.Fatal(err)
	}
	agenttest.Eventually(t, 15*time.Second, func() (bool, string) {
		es, _, err := cb.Health().Service("web", "", false, nil)
		if err != nil || len(es) != 1 {
			return false, "one entry"
		}
		for _, c := range es[0].Checks {
			if c.CheckID == "_service_maintenance:web-1" && c.Status == consul.HealthCritical && c.Notes == "deploy" {
				return true, ""
			}
		}
		return false, "maintenance check at node-b"
	})
	if err := ca.Agent().DisableServiceMaintenance("web-1"); err != nil {
		t.Fatal(err)
	}

	// Deregister: gone everywhere.
	if err := ca.Agent().ServiceDeregister("web-1"); err != nil {
		t.Fatal(err)
	}
	agenttest.Eventually(t, 15*time.Second, func() (bool, string) {
		svcs, _, err := cb.Catalog().Services(nil)
		_, still := svcs["web"]
		return err == nil && !still, "web gone from node-b's catalog"
	})

	// Nodes, members, self, leader: what clients probe.
	nodes, _, err := cb.Catalog().Nodes(nil)
	if err != nil || len(nodes) != 2 {
		t.Errorf("Catalog().Nodes = %v %v", nodes, err)
	}
	members, err := cb.Agent().Members(false)
	if err != nil || len(members) != 2 {
		t.Errorf("Agent().Members = %v %v", members, err)
	}
	self, err := cb.Agent().Self()
	if err != nil || self["Config"]["Datacenter"] != "dc1" || self["Config"]["NodeName"] != "node-b" {
		t.Errorf("Agent().Self = %v %v", self["Config"], err)
	}
	if leader, err := cb.Status().Leader(); err != nil || leader == "" {
		t.Errorf("Status().Leader = %q %v", leader, err)
	}
	if dcs, err := cb.Catalog().Datacenters(); err != nil || len(dcs) != 1 {
		t.Errorf("Datacenters = %v %v", dcs, err)
	}
}
