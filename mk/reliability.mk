# Reliability suite (included from Makefile): key rotation, Vault outage and a killed gateway under
# load, an upstream fault mix, schemathesis against each gateway's OpenAPI schema, and a soak.
# Each test starts its own local stack on free loopback ports; figures go to reports/reliability.json
# and are printed (-s). Bounded: about 5 minutes in all (RELIABILITY_SOAK_S, default 120, sets the soak).
#   make test-reliability                     the whole suite
#   make test-reliability RELIABILITY_ARGS='-k rotation'

RELIABILITY_ARGS ?=
SCHEMATHESIS_VERSION ?= 4.32.5

.PHONY: reliability-tools test-reliability

reliability-tools: deps
	@$(PY) -c 'import schemathesis' 2>/dev/null || { echo "installing schemathesis $(SCHEMATHESIS_VERSION)…"; \
		$(PIP) install -q 'schemathesis==$(SCHEMATHESIS_VERSION)'; }

test-reliability: reliability-tools ## Reliability suite: rotation, Vault outage, killed gateway, faults, fuzzing, soak
	@mkdir -p reports
	@rm -f reports/reliability.json
	@$(PYTEST) tests/reliability -s -q -p no:cacheprovider $(RELIABILITY_ARGS)
