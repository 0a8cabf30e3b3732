# Cluster benchmark with real agent processes (docs/scaling.md).
#   make bench-cluster            30 agents
#   make bench-cluster N=100 K=30
N ?= 30
K ?= 20

.PHONY: bench-cluster deps-bench

bench-cluster: build deps-bench
	$(GO) run ./internal/benchcluster -bin $(BIN)/grapevine -n $(N) -k $(K) -csv $(CURDIR)/bench-cluster.csv

# The reference the cluster benchmark prints beside Grapevine's figures: Serf.
# Benchmarks are not part of CI, so this is not in DEPS_TARGETS.
deps-bench:
	@if command -v serf >/dev/null; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends serf >/dev/null; \
	else echo "deps-bench: not root or no apt-get; install serf by hand for the reference"; fi
