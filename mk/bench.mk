# `make bench`: the benchmark (bench/run.py) — included by the top-level Makefile.
# LiteLLM (the peer) and matplotlib live in their own venv, .bench/venv, so litellm's pins never touch the
# project venv. The load generator and the stack run from the project venv ($(BENCH_PY)).
#   make bench                 sustained mode: 10 s windows, 3 interleaved repetitions, + the floor and workers (~45 min on 2 cores)
#   make bench BENCH_ARGS=--quick    quick mode (1 s windows, labelled as such), about 5 minutes
#   make bench-quick           same as above
#   make bench-instructions    instructions per request by component under valgrind (deterministic split, ~13 min)
#   make bench-tools           install valgrind (Debian package) when missing

BENCH_PY ?= .venv/bin/python
BENCH_VENV ?= .bench/venv
BENCH_ARGS ?=
BENCH_HOST_PY ?= python3

.PHONY: bench bench-quick bench-venv bench-tools bench-instructions

$(BENCH_VENV)/.installed: bench/requirements.txt
	@echo "• creating $(BENCH_VENV) (litellm[proxy] + matplotlib, separate from the project venv)"
	@if [ -x .venv/bin/uv ]; then \
		.venv/bin/uv venv -q --allow-existing -p $(BENCH_HOST_PY) $(BENCH_VENV) && \
		.venv/bin/uv pip install -q -p $(BENCH_VENV)/bin/python -r bench/requirements.txt; \
	else \
		$(BENCH_HOST_PY) -m venv $(BENCH_VENV) && \
		$(BENCH_VENV)/bin/pip install -q --disable-pip-version-check -r bench/requirements.txt; \
	fi
	@touch $@

bench-venv: $(BENCH_VENV)/.installed

bench: deps $(BENCH_VENV)/.installed ## The benchmark vs LiteLLM, sustained mode (~45 min); writes docs/benchmarks.md and .png
	$(BENCH_PY) bench/run.py $(BENCH_ARGS)

bench-quick: deps $(BENCH_VENV)/.installed ## The benchmark in quick mode (about 5 minutes, labelled quick)
	$(BENCH_PY) bench/run.py --quick $(BENCH_ARGS)

bench-tools: ## Install valgrind (Debian package) when missing: bench/instructions.py counts with its callgrind
	@if ! command -v valgrind >/dev/null 2>&1 || ! command -v callgrind_control >/dev/null 2>&1; then \
	  if [ "$$(id -u)" = 0 ]; then echo "installing valgrind (Debian package)…"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq valgrind >/dev/null; \
	  else echo "missing: valgrind; run 'sudo apt-get install valgrind'" >&2; exit 1; fi; \
	fi

# It starts its own mock upstream on a free loopback port and stops it at the end.
bench-instructions: deps bench-tools ## Instructions per request by component (valgrind, ~13 min), writes docs/instructions.md
	$(BENCH_PY) bench/instructions.py --report docs/instructions.md --json .bench/instructions.json
