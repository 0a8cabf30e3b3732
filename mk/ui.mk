# UI area: the browser test of the web console (agent/ui_browser_test.go)
# drives headless Chromium; it skips when Chromium is absent.

.PHONY: deps-ui
deps-ui:
	@if command -v chromium >/dev/null 2>&1; then echo "chromium: $$(command -v chromium)"; \
	else apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium; fi

DEPS_TARGETS += deps-ui
