# Operations: monitoring config checks, LangChain configuration validation, deploy.sh (included by Makefile).
#   make monitoring-tools   promtool + prometheus from the Debian package (service left stopped)
#   make lint-monitoring    promtool check config / check rules / test rules on deploy/monitoring
#   make validate           python -m gateway.validate against the stack of `make up` (.stack/env)
#   make test-ops           unit + integration tests of monitoring, validation and deploy.sh
#   make test-deploy        deploy.sh deploy + automatic rollback on the local Docker engine
OPS_PY ?= .venv/bin/python
OPS_PYTEST ?= .venv/bin/pytest
MONITORING := deploy/monitoring

.PHONY: monitoring-tools lint-monitoring validate test-ops test-deploy

monitoring-tools:
	@command -v promtool >/dev/null && command -v prometheus >/dev/null || { \
	  echo "installing prometheus (Debian package; only promtool and prometheus are used)…"; \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
	    apt-get install -y -qq --no-install-recommends prometheus >/dev/null; \
	  else echo "prometheus is missing: run 'sudo apt-get install prometheus'" >&2; exit 1; fi; \
	  if command -v systemctl >/dev/null && systemctl is-active -q prometheus 2>/dev/null; then \
	    systemctl disable --now prometheus >/dev/null 2>&1 || true; fi; }

lint-monitoring: monitoring-tools ## promtool check config/rules and the alert unit tests
	@promtool check config $(MONITORING)/prometheus.yml
	@promtool check rules $(MONITORING)/alerts.yml
	@promtool test rules $(MONITORING)/alerts.test.yml

validate: ## Validate the LangChain configuration of the running `make up` stack (no tokens spent)
	@PYTHONPATH=services $(OPS_PY) -m gateway.validate --stack-env .stack/env

test-ops: monitoring-tools ## Tests of monitoring, gateway.validate and deploy.sh (no Docker)
	@$(OPS_PYTEST) -q tests/unit/test_validate.py tests/unit/test_deploy_script.py \
	  tests/integration/test_monitoring.py tests/integration/test_validate.py

test-deploy: ## deploy.sh against the local Docker engine: deploy, idempotent re-run, automatic rollback
	@$(OPS_PYTEST) -q -s tests/containers/test_deploy.py
