package compattest

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	consul "github.com/hashicorp/consul/api"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/discovery"
	promconsul "github.com/prometheus/prometheus/discovery/consul"
	"github.com/prometheus/prometheus/discovery/targetgroup"
)

// TestPrometheusConsulSD points Prometheus' own Consul service discovery at
// a Grapevine agent's Consul listener: it discovers the registered targets
// (registered at another agent) and follows a deregistration.
func TestPrometheusConsulSD(t *testing.T) {
	a, b := startPair(t)
	ca := consulClient(t, a)
	for _, r := range []*consul.AgentServiceRegistration{
		{ID: "api-1", Name: "api", Port: 9101, Address: "127.0.0.1", Tags: []string{"metrics"}},
		{ID: "api-2", Name: "api", Port: 9102, Address: "127.0.0.1", Tags: []string{"metrics"}},
	} {
		if err := ca.Agent().ServiceRegister(r); err != nil {
			t.Fatal(err)
		}
	}

	conf := promconsul.DefaultSDConfig
	conf.Server = b.ConsulAddr()
	conf.Services = []string{"api"}
	// Prometheus paces its blocking queries with refresh_interval (default
	// 30s): after a change it waits for the next tick. 100ms keeps the
	// test fast; the figure logged below is Grapevine's part plus that.
	conf.RefreshInterval = model.Duration(100 * time.Millisecond)
	reg := prometheus.NewRegistry()
	refresh := discovery.NewRefreshMetrics(reg)
	metrics := conf.NewDiscovererMetrics(reg, refresh)
	if err := metrics.Register(); err != nil {
		t.Fatal(err)
	}
	defer metrics.Unregister()
	d, err := promconsul.NewDiscovery(&conf, slog.New(slog.NewTextHandler(io.Discard, nil)), metrics)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	ch := make(chan []*targetgroup.Group, 16)
	done := make(chan struct{})
	go func() { defer close(done); d.Run(ctx, ch) }()
	defer func() { cancel(); <-done }()

	// targets returns the addresses of the latest "api" group.
	targets := func(want int, why string) time.Time {
		t.Helper()
		deadline := time.After(20 * time.Second)
		for {
			select {
			case groups := <-ch:
				for _, g := range groups {
					if g == nil || g.Source != "api" {
						continue
					}
					if len(g.Targets) == want {
						if g.Labels["__meta_consul_dc"] != "dc1" {
							t.Errorf("group labels %v, want __meta_consul_dc dc1", g.Labels)
						}
						for _, tg := range g.Targets {
							if tg["__meta_consul_node"] != "node-a" || tg["__meta_consul_health"] != "passing" {
								t.Errorf("target labels %v", tg)
							}
						}
						return time.Now()
					}
				}
			case <-deadline:
				t.Fatalf("prometheus never saw %d api targets (%s)", want, why)
			}
		}
	}
	targets(2, "discovery")
	deregistered := time.Now()
	if err := ca.Agent().ServiceDeregister("api-2"); err != nil {
		t.Fatal(err)
	}
	seen := targets(1, "deregistration")
	t.Logf("prometheus consul_sd: a deregistration at another agent reached discovery in %v", seen.Sub(deregistered).Round(time.Millisecond))
}
