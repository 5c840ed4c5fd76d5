# Browser checks: the official openai and anthropic JavaScript SDKs, run in headless Chromium from a page of an
# allowed origin, through the edge's CORS (tests/integration/test_edge_browser.py). Included by the Makefile.
#   make browser-tools   Debian's chromium (apt, as root) and the SDKs (npm: tools/browser) bundled by esbuild
#                        into build/tools/browser/sdks.js; Playwright (Python, the [dev] extra) drives chromium
#   make test-browser    that test alone
BROWSER_NPM_DIR := tools/browser
BROWSER_BUNDLE := build/tools/browser/sdks.js
CHROMIUM ?= $(shell command -v chromium 2>/dev/null || echo /usr/bin/chromium)

.PHONY: browser-tools test-browser

$(CHROMIUM):
	@if [ "$$(id -u)" = 0 ]; then echo "installing chromium (Debian package)…"; apt-get update -qq \
	  && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	else echo "chromium is missing: run 'sudo apt-get install chromium'" >&2; exit 1; fi

$(BROWSER_BUNDLE): $(BROWSER_NPM_DIR)/package.json $(BROWSER_NPM_DIR)/package-lock.json $(BROWSER_NPM_DIR)/sdks.mjs
	@command -v node >/dev/null 2>&1 || { echo "node (20+) and npm are required for the browser SDKs" >&2; exit 1; }
	@npm ci --prefix $(BROWSER_NPM_DIR) --no-audit --no-fund --silent
	@$(BROWSER_NPM_DIR)/node_modules/.bin/esbuild $(BROWSER_NPM_DIR)/sdks.mjs --bundle --format=iife \
	  --platform=browser --target=es2022 --log-level=error --outfile=$@

browser-tools: $(CHROMIUM) $(BROWSER_BUNDLE) | $(DEPS_STAMP) ## Install chromium and bundle the openai/anthropic JavaScript SDKs

test-browser: browser-tools ## The JavaScript SDKs in headless Chromium through the edge's CORS
	@$(PYTEST) -q tests/integration/test_edge_browser.py
