#!/usr/bin/env bash
# Build the stack's images: one gateway per catalogue provider, the mock/tools image and nginx.
# Env: BASE_IMAGE (unset: each Dockerfile's official default), EDGE_BASE_IMAGE (the nginx image's;
#      unset: BASE_IMAGE; CI here: the Python-less local Debian base), IMAGE_PREFIX (llmgw),
#      IMAGE_TAG (local), VCS_REF, IMAGE_SOURCE, PIP_INDEX_URL (optional mirror),
#      DOCKER_BUILD_FLAGS (extra flags, e.g. --no-cache for a cold build).
# Usage: deploy/docker/build-images.sh [PROVIDER... mock nginx]   (default: all)
# Prints each build's wall time and the image sizes.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
prefix="${IMAGE_PREFIX:-llmgw}"
tag="${IMAGE_TAG:-local}"
targets=("$@")
# BEGIN catalogue:shell-providers
PROVIDERS=(openai anthropic cohere mistral local-llama)
PROVIDER_KEY_VARS=(OPENAI_API_KEY ANTHROPIC_API_KEY COHERE_API_KEY MISTRAL_API_KEY LOCAL_LLAMA_API_KEY)
PROVIDER_EXTRAS=(openai anthropic cohere mistral openai)
# END catalogue:shell-providers
((${#targets[@]})) || targets=("${PROVIDERS[@]}" mock nginx)

args=(--build-arg "VCS_REF=${VCS_REF:-unknown}" --build-arg "IMAGE_SOURCE=${IMAGE_SOURCE:-unknown}")
[[ -n "${BASE_IMAGE:-}" ]] && args+=(--build-arg "BASE_IMAGE=${BASE_IMAGE}")
[[ -n "${PIP_INDEX_URL:-}" ]] && args+=(--build-arg "PIP_INDEX_URL=${PIP_INDEX_URL}")
read -ra flags <<<"${DOCKER_BUILD_FLAGS:-}"
args+=("${flags[@]}")

python3 "${repo}/services/docker/render.py" --check

log="$(mktemp "${TMPDIR:-/tmp}/llmgw-build.XXXXXX")"
trap 'rm -f "${log}"' EXIT
for target in "${targets[@]}"; do
    base=()
    case "${target}" in
        nginx) dockerfile="${repo}/nginx/Dockerfile"
               [[ -n "${EDGE_BASE_IMAGE:-}" ]] && base=(--build-arg "BASE_IMAGE=${EDGE_BASE_IMAGE}") ;;
        *) dockerfile="${repo}/services/Dockerfile.${target}" ;;
    esac
    image="${prefix}/${target}:${tag}"
    started=${SECONDS}
    # The engine here (Debian docker.io) has no buildx; the files need only the legacy builder.
    if ! DOCKER_BUILDKIT=0 docker build "${args[@]}" ${base[@]+"${base[@]}"} -f "${dockerfile}" -t "${image}" "${repo}" >"${log}" 2>&1; then
        cat "${log}" >&2
        echo "build: ${image} FAILED" >&2
        exit 1
    fi
    echo "build: ${image} in $((SECONDS - started))s"
done
echo "images:"
for target in "${targets[@]}"; do
    docker image inspect -f '{{.Size}}' "${prefix}/${target}:${tag}" |
        awk -v name="${prefix}/${target}:${tag}" '{printf "  %-28s %6.1f MB\n", name, $1 / 1e6}'
done
