#!/usr/bin/env bash
# Install or upgrade the chart atomically (a failed upgrade rolls back by itself).
# Self-contained so other tooling (the Dagger module's `deploy --target kubernetes`) can call it.
# Env: KUBECONFIG (file; the caller mounts it from a secret), RELEASE (llm-gateway), NAMESPACE (llm),
#      TIMEOUT (10m), HELM (helm). Extra arguments go to helm (e.g. -f prod-values.yaml --set ...).
# Usage: deploy/helm/deploy.sh -f values-prod.yaml
#        deploy/helm/deploy.sh rollback [REVISION]
set -euo pipefail

chart="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/llm-gateway"
helm="${HELM:-helm}"
release="${RELEASE:-llm-gateway}"
namespace="${NAMESPACE:-llm}"
timeout="${TIMEOUT:-10m}"

[[ -n "${KUBECONFIG:-}" && -r "${KUBECONFIG}" ]] || { echo "deploy: KUBECONFIG must name a readable file" >&2; exit 2; }
command -v "${helm}" >/dev/null || { echo "deploy: ${helm} not found" >&2; exit 2; }

if [[ "${1:-}" == rollback ]]; then
    shift
    exec "${helm}" rollback "${release}" "$@" --namespace "${namespace}" --wait --timeout "${timeout}"
fi

# --rollback-on-failure (Helm 4's name for the deprecated --atomic): on any failure (pods not ready in time)
# helm rolls back to the last good revision.
"${helm}" upgrade --install "${release}" "${chart}" --namespace "${namespace}" --create-namespace \
    --rollback-on-failure --wait --timeout "${timeout}" --history-max 10 "$@"
"${helm}" status "${release}" --namespace "${namespace}"
