# Cluster benchmark with real agent processes (docs/scaling.md).
#   make bench-cluster            30 agents
#   make bench-cluster N=100 K=30
N ?= 30
K ?= 20

.PHONY: bench-cluster bench-http deps-bench

bench-cluster: build deps-bench
	$(GO) run ./internal/benchcluster -bin $(BIN)/grapevine -n $(N) -k $(K) -csv $(CURDIR)/bench-cluster.csv

# HTTP lookups beside nginx serving the same bytes (part of `make bench`).
bench-http: build deps-bench
	$(GO) run ./internal/benchhttp -bin $(BIN)/grapevine

# The references the benchmarks print beside Grapevine's figures: Serf, wrk and
# nginx. Benchmarks are not part of CI, so this is not in DEPS_TARGETS. nginx's
# package must not start a server on 0.0.0.0:80: a policy-rc.d that forbids
# service starts is in place during the install (and an existing one is kept).
BENCH_PKGS := serf wrk nginx-light
deps-bench:
	@if command -v serf >/dev/null && command -v wrk >/dev/null && [ -x /usr/sbin/nginx ]; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  made=; if [ ! -e /usr/sbin/policy-rc.d ]; then printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d; chmod +x /usr/sbin/policy-rc.d; made=1; fi; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $(BENCH_PKGS) >/dev/null; rc=$$?; \
	  if [ -n "$$made" ]; then rm -f /usr/sbin/policy-rc.d; fi; exit $$rc; \
	else echo "deps-bench: not root or no apt-get; install $(BENCH_PKGS) by hand for the references"; fi
