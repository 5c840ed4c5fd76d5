# Shared engines for limits and usage (included from Makefile). The tests start their own
# redis-server and PostgreSQL on free loopback ports; this only makes sure the binaries exist.
#   make limits-tools   install Debian's redis-server and postgresql when missing (root: apt-get)
#   make test-limits    the limits suites: unit, real Redis, 3 replicas behind nginx, vaultctl


.PHONY: limits-tools test-limits

limits-tools: ## Install redis-server and PostgreSQL (Debian packages) when missing
	@missing=""; \
	command -v redis-server >/dev/null 2>&1 || test -x /usr/bin/redis-server || missing="$$missing redis-server"; \
	command -v initdb >/dev/null 2>&1 || ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing="$$missing postgresql"; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then echo "installing$$missing (Debian packages)…"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	  else echo "missing:$$missing; run 'sudo apt-get install$$missing'" >&2; exit 1; fi; \
	fi
	@# Debian's postgresql package starts a cluster service; the tests never use it (they initdb their own).

test-limits: deps edge-tools limits-tools ## Limits: unit, real Redis, 3 replicas behind nginx, vaultctl limits
	@$(PYTEST) -q -s tests/unit/test_limits.py tests/integration/test_limits_redis.py \
	  tests/integration/test_vault_limits.py tests/integration/test_limits_replicas.py
