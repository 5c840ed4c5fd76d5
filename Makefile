# Multi-LLM gateway stack. `make help` lists the targets.
SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
PYTEST := $(VENV)/bin/pytest
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)

DEPS_STAMP := $(VENV)/.deps-stamp
# pytest-xdist for the unit + integration suites: every test file runs whole on one worker (its module
# fixtures, and the session stack, are started once per worker on free ports). A 2-core machine gets 2
# workers (10 -> 6 min); more than 4 buys nothing (a few long files are the critical path). Serial: PYTEST_PARALLEL=
PYTEST_PARALLEL ?= -n auto --maxprocesses 4 --dist loadfile

# Concern-specific targets live in mk/*.mk (ci, containers, edge, browser, limits, ops, bench, reliability, k8s).
include $(wildcard mk/*.mk)

.PHONY: help deps up down status test test-unit test-integration test-fast lint fmt clean

help: ## List the targets
	@grep -hE '^[a-zA-Z0-9_-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN{FS=":.*## "}{printf "  %-20s %s\n", $$1, $$2}'

deps: $(DEPS_STAMP) ## Install system packages (nginx) and the Python venv with every extra
$(DEPS_STAMP): pyproject.toml
	@command -v nginx >/dev/null 2>&1 || test -x /usr/sbin/nginx || { \
	  echo "installing nginx (Debian package)…"; \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx-light >/dev/null; \
	  else echo "nginx is missing: run 'sudo apt-get install nginx-light'" >&2; exit 1; fi; }
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@echo "installing Python dependencies into $(VENV)…"
	@$(PIP) install -q --upgrade pip
	@$(PIP) install -q -e '.[dev]'
	@touch $@

up: deps ## Start the whole stack locally (OpenBao, mock, 3 gateways, nginx) — no Docker, no API keys
	@$(PY) -m devstack up

down: ## Stop the local stack started by `make up`
	@$(PY) -m devstack down

status: ## Show the local stack's processes
	@$(PY) -m devstack status

lint: deps ## ruff + pyright on the Python code (services, tests, bench, ci/src); files generated from the provider catalogue are current
	@$(VENV)/bin/ruff check services tests bench ci/src
	@$(VENV)/bin/pyright
	@$(PY) -m catalogue.generate --check && echo "catalogue: generated files current"

test-unit: deps ## Unit tests only (no processes started)
	@$(PYTEST) tests/unit -q $(PYTEST_PARALLEL)

test-integration: deps edge-tools limits-tools bench-tools browser-tools ## Integration tests against a real local stack
	@$(PYTEST) tests/integration -q $(PYTEST_PARALLEL)

test-fast: deps edge-tools limits-tools bench-tools browser-tools ## Unit + integration tests, no lint, no containers
	@$(PYTEST) tests/unit tests/integration -q $(PYTEST_PARALLEL)

# Everything that runs on a bare Linux machine (what .ci/run calls): static checks, unit and
# integration suites against a real local stack, the reliability suite, then the container stage.
test: deps lint lint-ci lint-nginx lint-monitoring edge-tools limits-tools bench-tools browser-tools ## Every test that can run here (lint, unit, integration, reliability, containers, deploy.sh, Dagger replay)
	@$(PYTEST) tests/unit tests/integration -q -p no:cacheprovider $(PYTEST_PARALLEL)
	@$(MAKE) --no-print-directory test-k8s
	@$(MAKE) --no-print-directory test-reliability
	@$(MAKE) --no-print-directory test-containers
	@$(MAKE) --no-print-directory test-deploy
	@$(MAKE) --no-print-directory test-dagger-replay

clean: ## Remove the venv, caches and local state
	@rm -rf $(VENV) .stack .pytest_cache .ruff_cache reports
