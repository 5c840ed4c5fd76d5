#!/usr/bin/env bash
# The kind job (.github/workflows/k8s.yml): images into kind, dev OpenBao bootstrapped for Kubernetes
# auth, the chart installed with the mock upstream, then the health, auth and streaming suites through
# the edge. Needs: a kind cluster (KIND_CLUSTER), docker, kubectl, helm, the project venv (.venv).
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)"
cluster="${KIND_CLUSTER:-llm}"
state="${STATE_DIR:-${repo}/.stack/kind}"
ns=llm
py="${repo}/.venv/bin/python"
# The pinned tools `make k8s-tools` installs (kubectl 1.37 from the k8s extra, helm from tools/k8s).
export PATH="${repo}/.venv/bin:${PATH}"
export HELM="${repo}/build/tools/k8s/helm"
mkdir -p "${state}/tls"
pids=()
cleanup() { for pid in "${pids[@]}"; do kill "${pid}" 2>/dev/null || true; done; }
trap cleanup EXIT

# BEGIN catalogue:shell-providers
PROVIDERS=(openai anthropic cohere mistral local-llama)
PROVIDER_KEY_VARS=(OPENAI_API_KEY ANTHROPIC_API_KEY COHERE_API_KEY MISTRAL_API_KEY LOCAL_LLAMA_API_KEY)
PROVIDER_EXTRAS=(openai anthropic cohere mistral openai)
# END catalogue:shell-providers
IMAGE_TAG=ci "${repo}/deploy/docker/build-images.sh" "${PROVIDERS[@]}" mock nginx
for image in "${PROVIDERS[@]}" mock nginx; do kind load docker-image --name "${cluster}" "llmgw/${image}:ci"; done

kubectl create namespace vault --dry-run=client -o yaml | kubectl apply -f -
kubectl create namespace "${ns}" --dry-run=client -o yaml | kubectl apply -f -
root="$("${py}" -c 'import secrets; print(secrets.token_hex(16))')"
kubectl -n vault create secret generic openbao-root --from-literal=token="${root}" --dry-run=client -o yaml | kubectl apply -f -
kubectl apply -f "${repo}/deploy/helm/kind/openbao-dev.yaml"
kubectl -n vault rollout status deploy/openbao --timeout=180s

kubectl -n vault port-forward svc/openbao 18200:8200 >"${state}/pf-vault.log" 2>&1 & pids+=($!)
for _ in $(seq 1 50); do curl -fsS http://127.0.0.1:18200/v1/sys/health >/dev/null 2>&1 && break; sleep 0.2; done
printf '%s' "${root}" >"${state}/root-token" && chmod 0600 "${state}/root-token"
# Keys for the mock upstream, generated here (the mock accepts any non-empty key by default).
for var in "${PROVIDER_KEY_VARS[@]}"; do export "${var}=mock-$("${py}" -c 'import secrets; print(secrets.token_hex(8))')"; done
demo_clients=(); for p in "${PROVIDERS[@]}"; do demo_clients+=(--client "demo-${p}:${p}"); done
PYTHONPATH="${repo}/services" "${py}" -m vaultctl bootstrap --addr http://127.0.0.1:18200 \
    --token-file "${state}/root-token" \
    "${demo_clients[@]}" \
    --client-keys-file "${state}/client-keys.json" \
    --k8s-host https://kubernetes.default.svc --k8s-namespace "${ns}" \
    --k8s-service-account 'llm-gateway-{provider}' --k8s-audience vault

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 -subj /CN=llm-ci \
    -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" -keyout "${state}/tls/key.pem" -out "${state}/tls/ca.pem" 2>/dev/null
kubectl -n "${ns}" create secret tls llm-gateway-tls --cert="${state}/tls/ca.pem" --key="${state}/tls/key.pem" \
    --dry-run=client -o yaml | kubectl apply -f -

KUBECONFIG="${KUBECONFIG:-${HOME}/.kube/config}" NAMESPACE="${ns}" RELEASE=llm-gateway TIMEOUT=8m \
    "${repo}/deploy/helm/deploy.sh" -f "${repo}/deploy/helm/llm-gateway/ci/kind-values.yaml"
kubectl -n "${ns}" get deploy,hpa,pdb,networkpolicy,pods -o wide

kubectl -n "${ns}" port-forward svc/llm-gateway-edge 18443:443 >"${state}/pf-edge.log" 2>&1 & pids+=($!)
kubectl -n "${ns}" port-forward svc/llm-gateway-mock 18199:8199 >"${state}/pf-mock.log" 2>&1 & pids+=($!)
for _ in $(seq 1 50); do curl -fsS --cacert "${state}/tls/ca.pem" https://127.0.0.1:18443/healthz >/dev/null 2>&1 && break; sleep 0.2; done
"${py}" - "${state}" "${repo}/services" >"${state}/stack.env" <<'PY'
import json, shlex, sys
from pathlib import Path
state = Path(sys.argv[1])
keys = json.loads((state / "client-keys.json").read_text())
env = {"STACK_URL": "https://127.0.0.1:18443", "STACK_CA": str(state / "tls" / "ca.pem"),
       "STACK_MOCK_URL": "http://127.0.0.1:18199", "VAULT_ADDR": "http://127.0.0.1:18200",
       "STACK_VAULT_TOKEN_FILE": str(state / "root-token"), "STACK_KIND": "kubernetes", "STACK_STATE_DIR": str(state)}
sys.path.insert(0, sys.argv[2])
import catalogue
env.update({f"STACK_KEY_{p.upper}": keys[f"demo-{p.name}"] for p in catalogue.providers()})
print("\n".join(f"export {k}={shlex.quote(v)}" for k, v in env.items()))
PY
STACK_ENV_FILE="${state}/stack.env" "${py}" -m pytest -q -p no:cacheprovider tests/integration --only-stack-tests \
    -m "(health or auth or perf) and not local_stack" --junitxml="${state}/junit-kind.xml"
