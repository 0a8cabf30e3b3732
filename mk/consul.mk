# The Consul-compatible listener's tests against real Consul clients
# (docs/consul.md): consul/api and Prometheus' consul_sd in their own Go module
# (internal/compattest, so the product's go.mod stays small), consul-template
# as a program installed here.

CONSUL_TEMPLATE_VERSION := v0.41.1

.PHONY: deps-consul test-consul

deps-consul: $(TOOLS)/consul-template

$(TOOLS)/consul-template:
	GOBIN=$(TOOLS) $(GO) install github.com/hashicorp/consul-template@$(CONSUL_TEMPLATE_VERSION)

DEPS_TARGETS += deps-consul

# Run by `make test`. The module requires the product's module through a
# replace, so it is tidied first: a dependency added to the product never
# breaks it. Skips (with the reason) when the dependencies cannot be
# downloaded; the consul-template test skips without the program.
test-consul:
	@cd internal/compattest && if ! out=$$($(GO) mod tidy 2>&1); then \
	  echo "compattest: SKIP: its Go modules (consul/api, prometheus) cannot be resolved: $$out"; \
	else \
	  $(GO) test -race -count=1 -timeout 10m ./...; \
	fi

TEST_TARGETS += test-consul
