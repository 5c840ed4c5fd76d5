#!/usr/bin/env bash
# Build the stack's images: one gateway per catalogue provider, the mock/tools image and nginx.
# Env: BASE_IMAGE (unset: each Dockerfile's official default), EDGE_BASE_IMAGE (the nginx image's;
#      unset: BASE_IMAGE; CI here: the Python-less local Debian base), IMAGE_PREFIX (llmgw),
#      IMAGE_TAG (local), VCS_REF, IMAGE_SOURCE, PIP_INDEX_URL (optional mirror),
#      DOCKER_BUILD_FLAGS (extra flags, e.g. --no-cache for a cold build),
#      BUILD_JOBS (builds at a time; default: the CPU count, at most 4 — a build is mostly one process
#      installing wheels, so two at a time on 2 cores took a cold build from 410 s to 270 s).
# Usage: deploy/docker/build-images.sh [PROVIDER... mock nginx]   (default: all)
# The first image builds alone (the layers every gateway image shares are then cached for the others),
# the rest BUILD_JOBS at a time. Prints each build's wall time and the image sizes.
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

cpus="$(nproc 2>/dev/null || echo 2)"
jobs="${BUILD_JOBS:-$((cpus < 4 ? cpus : 4))}"
[[ "${jobs}" =~ ^[1-9][0-9]*$ ]] || { echo "build: BUILD_JOBS must be a positive integer, not '${jobs}'" >&2; exit 2; }
logs="$(mktemp -d "${TMPDIR:-/tmp}/llmgw-build.XXXXXX")"
trap 'rm -rf "${logs}"' EXIT

build() {  # build TARGET: one image, its output to its own log; prints its wall time
    local target="$1" dockerfile image started=${SECONDS} base=()
    case "${target}" in
        nginx) dockerfile="${repo}/nginx/Dockerfile"
               [[ -n "${EDGE_BASE_IMAGE:-}" ]] && base=(--build-arg "BASE_IMAGE=${EDGE_BASE_IMAGE}") ;;
        *) dockerfile="${repo}/services/Dockerfile.${target}" ;;
    esac
    image="${prefix}/${target}:${tag}"
    # The engine here (Debian docker.io) has no buildx; the files need only the legacy builder.
    if ! DOCKER_BUILDKIT=0 docker build "${args[@]}" ${base[@]+"${base[@]}"} -f "${dockerfile}" -t "${image}" "${repo}" \
            >"${logs}/${target}.log" 2>&1; then
        cat "${logs}/${target}.log" >&2
        echo "build: ${image} FAILED" >&2
        return 1
    fi
    echo "build: ${image} in $((SECONDS - started))s"
}

running() {  # how many of the background builds are still running
    local n=0 pid
    for pid in ${pids[@]+"${pids[@]}"}; do
        kill -0 "${pid}" 2>/dev/null && n=$((n + 1))
    done
    echo "${n}"
}

build "${targets[0]}" || exit 1
pids=()
for target in "${targets[@]:1}"; do
    while (($(running) >= jobs)); do
        # Until one ends. Its status is read below, by PID: counting `wait -n` returns loses a build that ends
        # while another is reported (it then answers 127, and the script failed after every build had passed).
        wait -n || true
    done
    [[ -e "${logs}/failed" ]] && break  # no new build after a failure; those running finish
    { build "${target}" || { touch "${logs}/failed"; exit 1; }; } &
    pids+=("$!")
done
failed=0
for pid in ${pids[@]+"${pids[@]}"}; do
    wait "${pid}" || failed=1
done
((failed == 0)) || exit 1
echo "images:"
for target in "${targets[@]}"; do
    docker image inspect -f '{{.Size}}' "${prefix}/${target}:${tag}" |
        awk -v name="${prefix}/${target}:${tag}" '{printf "  %-28s %6.1f MB\n", name, $1 / 1e6}'
done
