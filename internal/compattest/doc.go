// Package compattest drives Grapevine's Consul-compatible listener with
// real Consul clients nobody here wrote: the Go client
// github.com/hashicorp/consul/api, Prometheus' Consul service discovery
// (github.com/prometheus/prometheus/discovery/consul) and the consul-template
// program. It is a module of its own so that those clients' dependencies
// never enter the product's go.mod; `make test` runs it (mk/consul.mk).
package compattest
