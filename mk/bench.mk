# Cluster benchmark with real agent processes (issue: performance).
#   make bench-cluster            30 agents
#   make bench-cluster N=100 K=30
N ?= 30
K ?= 20

.PHONY: bench-cluster deps-bench

bench-cluster: build
	$(GO) run ./internal/benchcluster -bin $(BIN)/grapevine -n $(N) -k $(K) -csv $(CURDIR)/bench-cluster.csv

# The references the benchmarks print beside Grapevine's figures: Serf (user
# events), wrk and nginx (HTTP lookups).
deps-bench:
	@if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends serf wrk nginx-light >/dev/null; \
	else echo "deps-bench: not root or no apt-get; install serf, wrk and nginx-light by hand"; fi

DEPS_TARGETS += deps-bench
