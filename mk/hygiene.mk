# Shells whose completion scripts (grapevine completion zsh|fish) the tests
# parse and load; bash is always there. Tests skip without them.
HYGIENE_PKGS := zsh fish
.PHONY: deps-hygiene
deps-hygiene:
	@if command -v zsh >/dev/null && command -v fish >/dev/null; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $(HYGIENE_PKGS) >/dev/null; \
	else echo "deps-hygiene: not root or no apt-get; install $(HYGIENE_PKGS) to test the completion scripts"; fi
DEPS_TARGETS += deps-hygiene
