# DNS: the programs the DNS tests drive (dig, HAProxy, unbound, dnsmasq) and the DNS benchmark's
# load generator and reference server (dnsperf, nsd). Tests skip with a reason
# where one is absent. nsd's and unbound's packages must not start a server on port 53: a
# policy-rc.d that forbids service starts is in place during the install.
#   make bench-dns     dnsperf against the agent and nsd, the ratio, amplification
DNS_PKGS := dnsperf nsd dnsutils haproxy unbound dnsmasq-base

.PHONY: deps-dns bench-dns

deps-dns:
	@if command -v dig >/dev/null && command -v dnsperf >/dev/null && command -v haproxy >/dev/null && [ -x /usr/sbin/unbound ] && [ -x /usr/sbin/dnsmasq ] && { command -v nsd >/dev/null || [ -x /usr/sbin/nsd ]; }; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  made=; if [ ! -e /usr/sbin/policy-rc.d ]; then printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d; chmod +x /usr/sbin/policy-rc.d; made=1; fi; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $(DNS_PKGS) >/dev/null; rc=$$?; \
	  if [ -n "$$made" ]; then rm -f /usr/sbin/policy-rc.d; fi; exit $$rc; \
	else echo "deps-dns: not root or no apt-get; install $(DNS_PKGS) by hand (tests that need them skip)"; fi

DEPS_TARGETS += deps-dns

bench-dns: build
	$(GO) run ./internal/benchdns -bin $(BIN)/grapevine
