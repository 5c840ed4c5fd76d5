# Edge (nginx) checks. Included by the main Makefile; uses its VENV/PY/PYTEST.
#   make edge-tools   gixy-ng into the venv, sslyze into its own venv (it pins cryptography<47)
#   make lint-nginx   render nginx/ with a throwaway certificate, then `nginx -t` and gixy (0 findings)
#   make test-edge    renderer unit tests + every tests/integration/test_edge_*.py (real nginx; the browser one: make browser-tools)

EDGE_TOOLS ?= build/tools
SSLYZE_VENV := $(EDGE_TOOLS)/sslyze
SSLYZE := $(SSLYZE_VENV)/bin/sslyze
GIXY := $(VENV)/bin/gixy
NGINX ?= $(shell command -v nginx 2>/dev/null || echo /usr/sbin/nginx)
EDGE_LINT_DIR ?= build/nginx-lint

.PHONY: edge-tools lint-nginx test-edge

edge-tools: $(GIXY) $(SSLYZE) ## Install gixy-ng and sslyze for the edge checks

$(GIXY): | $(DEPS_STAMP)
	@$(PIP) install -q 'gixy-ng==0.2.59'

$(SSLYZE):
	@$(PYTHON) -m venv $(SSLYZE_VENV)
	@$(SSLYZE_VENV)/bin/pip install -q 'sslyze==6.3.1'

lint-nginx: $(GIXY) ## nginx -t and gixy on the rendered edge config
	@rm -rf $(EDGE_LINT_DIR) && mkdir -p $(EDGE_LINT_DIR)/tls
	@openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 -subj /CN=lint \
	  -keyout $(EDGE_LINT_DIR)/tls/key.pem -out $(EDGE_LINT_DIR)/tls/cert.pem 2>/dev/null
	@NGINX_TLS_CERT=$(CURDIR)/$(EDGE_LINT_DIR)/tls/cert.pem NGINX_TLS_KEY=$(CURDIR)/$(EDGE_LINT_DIR)/tls/key.pem \
	  $(PY) -m edge.render --prefix $(EDGE_LINT_DIR)/conf >/dev/null
	@$(NGINX) -t -q -p $(CURDIR)/$(EDGE_LINT_DIR)/conf -c $(CURDIR)/$(EDGE_LINT_DIR)/conf/nginx.conf \
	  -e $(CURDIR)/$(EDGE_LINT_DIR)/conf/logs/error.log
	@# No --nginx-version: Debian backports security fixes into 1.22.1, so version-matched CVE reports
	@# would name fixes the package already has.
	@$(GIXY) $(CURDIR)/$(EDGE_LINT_DIR)/conf/nginx.conf 2>/dev/null | sed -n '/Results/,$$p'
	@$(GIXY) $(CURDIR)/$(EDGE_LINT_DIR)/conf/nginx.conf >/dev/null 2>&1
	@echo "nginx -t: ok; gixy: no findings"

test-edge: edge-tools browser-tools ## The edge test suite with the real nginx (and headless Chromium)
	@$(PYTEST) -q tests/unit/test_nginx_render.py tests/integration/test_edge_*.py
