# Grapevine — build, test, check, bench, run.
# Everything a target needs is installed here with `go install` into .tools/.

SHELL     := /bin/bash
.SHELLFLAGS := -eo pipefail -c

GO        ?= go
TOOLS     := $(CURDIR)/.tools
BIN       := $(CURDIR)/bin
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS   := -X github.com/grapevine-sd/grapevine/agent.Version=$(VERSION)
STATICCHECK_VERSION := v0.8.2
FUZZTIME  ?= 10s
BENCHTIME ?= 1s

.PHONY: all build test check lint vet fmt staticcheck tidy structure fuzz bench sim run clean deps

# Area fragments (mk/*.mk) add their install targets to DEPS_TARGETS, and the
# tests of their own Go modules (not under ./...) to TEST_TARGETS.
DEPS_TARGETS :=
TEST_TARGETS :=
-include $(sort $(wildcard mk/*.mk))

all: build

build:
	$(GO) build -ldflags '$(LDFLAGS)' -o $(BIN)/grapevine ./cmd/grapevine
	$(GO) build -ldflags '$(LDFLAGS)' -o $(BIN)/grapevine-sim ./cmd/grapevine-sim

# The README's test command; CI runs exactly this.
test:
	$(GO) test -race -count=1 -timeout 20m ./...
	$(if $(TEST_TARGETS),$(MAKE) --no-print-directory $(TEST_TARGETS))

check: lint fuzz

# Fast static checks; CI runs them before the tests.
lint: vet fmt staticcheck tidy structure

vet:
	$(GO) vet ./...

fmt:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

$(TOOLS)/staticcheck:
	GOBIN=$(TOOLS) $(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)

staticcheck: $(TOOLS)/staticcheck
	$(TOOLS)/staticcheck ./...

# The repository's structure (also part of make test): the layering table of
# docs/architecture.md, package comments, and no reference to a missing file.
structure:
	$(GO) test -count=1 -run 'TestLayering|TestPackageComments|TestTableHasRules|TestNoDanglingReferences|TestNoTrackedBinaries|TestIsExecutable|TestDistUnit' ./internal/deptest ./internal/repocheck

# Fails (printing the diff) when `go mod tidy` would change go.mod or go.sum.
tidy:
	$(GO) mod tidy -diff

# Short fuzzing of every fuzz target ($(FUZZTIME) each).
fuzz:
	@set -e; for pkg in $$($(GO) list ./...); do \
	  for f in $$($(GO) test -list '^Fuzz' $$pkg 2>/dev/null | grep '^Fuzz'); do \
	    echo "fuzz $$pkg $$f"; \
	    $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$pkg >/dev/null || exit 1; \
	  done; \
	done

# Benchmarks, printed as readable tables.
bench:
	$(GO) test -run '^$$' -bench . -benchmem -benchtime $(BENCHTIME) ./... | $(GO) run ./internal/benchfmt
	@echo; echo "== gossip dissemination in virtual time (each agent its own host; 5 ms links)"
	GRAPEVINE_BENCH=1 $(GO) test -count=1 -run 'TestPropagationVirtual|TestScaleModel' -v ./gossip/ | grep -v -e '^=== RUN' -e '^--- ' -e '^PASS' -e '^ok' 
	@echo
	$(MAKE) --no-print-directory bench-http
	@echo
	$(MAKE) --no-print-directory bench-dns

# Long simulator scenarios.
sim: build
	$(GO) test -count=1 -timeout 180m -v -run 'TestScenarioFull|TestConvergenceSeeds|TestScenarioSeeds' -tags simfull ./sim/... | grep -v '^=== RUN'

# A dev agent with a demo service; lookups work against it (see README).
run: build
	$(BIN)/grapevine agent -dev

# Third-party programs that tests drive (Debian packages, go-installed tools,
# headless Chromium). Tests skip with a clear reason where one is absent.
deps: $(DEPS_TARGETS)

clean:
	rm -rf $(BIN) $(TOOLS)
