#!/usr/bin/env bash
# Deploy the LLM gateway stack with docker compose, in five steps:
#   1 images    build (deploy/docker/build-images.sh) or pull the published references (--images-file)
#   2 push      tag and push to REGISTRY (skipped for a local engine without REGISTRY, or --images-file)
#   3 deploy    write the host files, record the release, `compose up -d` on the target engine
#   4 health    through nginx: /healthz and /<provider>/readyz until green or LLMGW_HEALTH_TIMEOUT_S
#   5 validate  `python -m gateway.validate` inside each gateway container (settings + live, no tokens)
# A failure in 3-5 rolls back to the previous live release (kept in ${LLMGW_STATE_DIR}/releases).
# Re-running with the same tag is safe: existing images are reused and compose changes nothing.
set -euo pipefail

# The providers (services/catalogue/providers.toml; `python -m catalogue.generate` writes this region).
# BEGIN catalogue:shell-providers
PROVIDERS=(openai anthropic cohere mistral local-llama)
PROVIDER_KEY_VARS=(OPENAI_API_KEY ANTHROPIC_API_KEY COHERE_API_KEY MISTRAL_API_KEY LOCAL_LLAMA_API_KEY)
PROVIDER_EXTRAS=(openai anthropic cohere mistral openai)
# END catalogue:shell-providers
readonly PROVIDERS PROVIDER_KEY_VARS PROVIDER_EXTRAS
readonly COMPONENTS=("${PROVIDERS[@]}" nginx mock)   # mock: vault-bootstrap's vaultctl runs from it
readonly SECRETS=(VAULT_ADMIN_TOKEN "${PROVIDER_KEY_VARS[@]}")
deploy_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "${deploy_dir}/.." && pwd)"

usage() {
    cat <<'EOF'
Usage: deploy/deploy.sh --env staging|prod [options]

Deploy the LLM gateway stack (nginx, one gateway per catalogue provider, Vault) with docker compose on the engine
named by DOCKER_HOST (unset: the local engine; ssh://user@host for a server).

Options:
  --env NAME          staging or prod; reads deploy/.env.NAME (variables: deploy/.env.production.example)
  --env-file FILE     read this file instead
  --tag TAG           release tag (default: LLMGW_TAG, else the UTC time YYYYmmddHHMMSS)
  --images-file FILE  published references, one per line (output of `dagger call publish`); skips build/push
  --rebuild           build images even when the tag exists locally
  --rollback          do not deploy: restore the previous live release
  --dry-run           check the configuration and print every step's commands; change nothing
  -h, --help          show this help

Variables come from the env file (they win over the environment; unset ones are read from it).
Steps: 1 images, 2 push, 3 deploy, 4 health (through nginx), 5 validate (python -m gateway.validate).
A failure in steps 3-5 rolls back automatically to the previous live release and exits 1.
Exit status: 0 deployed (or already live), 1 failed (rolled back if possible), 2 usage or configuration error.
EOF
}

die() { echo "deploy: error: $*" >&2; exit 2; }
log() { echo "deploy: $*"; }

# -- arguments ---------------------------------------------------------------------------------
env_name="" env_file="" tag="" images_file="" rebuild=0 rollback_only=0 dry_run=0
while (($#)); do
    case "$1" in
        --env) [[ $# -ge 2 ]] || die "--env needs a value (staging or prod)"; env_name="$2"; shift 2 ;;
        --env=*) env_name="${1#*=}"; shift ;;
        --env-file) [[ $# -ge 2 ]] || die "--env-file needs a path"; env_file="$2"; shift 2 ;;
        --tag) [[ $# -ge 2 ]] || die "--tag needs a value"; tag="$2"; shift 2 ;;
        --images-file) [[ $# -ge 2 ]] || die "--images-file needs a path"; images_file="$2"; shift 2 ;;
        --rebuild) rebuild=1; shift ;;
        --rollback) rollback_only=1; shift ;;
        --dry-run) dry_run=1; shift ;;
        -h | --help) usage; exit 0 ;;
        *) usage >&2; die "unknown argument: $1" ;;
    esac
done
case "${env_name}" in
    staging | prod) ;;
    "") usage >&2; die "--env is required (staging or prod)" ;;
    *) die "--env must be staging or prod, not '${env_name}'" ;;
esac
env_file="${env_file:-${deploy_dir}/.env.${env_name}}"
[[ -f "${env_file}" ]] || die "${env_file} not found: copy deploy/.env.production.example and fill it in"
[[ -z "${images_file}" || -f "${images_file}" ]] || die "--images-file ${images_file} not found"

# -- configuration: KEY=VALUE lines, parsed (never sourced); a variable set in the file wins --------
load_env_file() {
    local line key value n=0
    while IFS= read -r line || [[ -n "${line}" ]]; do
        n=$((n + 1))
        line="${line#"${line%%[![:space:]]*}"}"
        [[ -z "${line}" || "${line}" == \#* ]] && continue
        line="${line#export }"
        [[ "${line}" =~ ^([A-Za-z_][A-Za-z0-9_]*)=(.*)$ ]] || die "${env_file}:${n}: not KEY=VALUE"
        key="${BASH_REMATCH[1]}" value="${BASH_REMATCH[2]}"
        if [[ "${value}" =~ ^\"(.*)\"$ || "${value}" =~ ^\'(.*)\'$ ]]; then value="${BASH_REMATCH[1]}"; fi
        [[ "${value}" == *"<"*">"* ]] && die "${key} still holds a placeholder (${env_file}:${n})"
        [[ -n "${value}" ]] && export "${key}=${value}"
    done <"${env_file}"
}
load_env_file

# Same rule as gateway.validation.report.looks_like_placeholder.
is_placeholder() {
    local v="${1,,}"
    v="${v#"${v%%[![:space:]]*}"}"; v="${v%"${v##*[![:space:]]}"}"
    [[ -z "${v}" || "${v}" == *"<"* || "${v}" =~ ^[x*.]+$ ]] && return 0
    case "${v}" in todo | tbd | none | null | secret | password | key | xxx) return 0 ;; esac
    local m
    for m in changeme change-me change_me replace-me replace_me replaceme placeholder your- your_ example; do
        [[ "${v}" == *"${m}"* ]] && return 0
    done
    return 1
}

# Published references are REGISTRY/llm-gateway-<component>[:tag][@digest] (dagger call publish,
# the push step); the registry may carry a port, so the name is cut after the last slash.
component_of() {
    local name="${1%%@*}"
    name="${name##*/}"; name="${name%%:*}"
    echo "${name#llm-gateway-}"
}

require() {  # require NAME [secret]: refuse missing values, and placeholders for secrets
    local name="$1" kind="${2:-}"
    [[ -n "${!name:-}" ]] || die "${name} is missing (set it in ${env_file})"
    if [[ "${kind}" == secret ]] && is_placeholder "${!name}"; then
        die "${name} holds a placeholder value in ${env_file}; put the real secret there"
    fi
}

upstream="${LLMGW_UPSTREAM:-real}"
[[ "${upstream}" == real || "${upstream}" == mock ]] || die "LLMGW_UPSTREAM must be real or mock"
[[ "${env_name}" == prod && "${upstream}" == mock ]] && die "LLMGW_UPSTREAM=mock is refused for --env prod"
require LLMGW_STATE_DIR
require LLMGW_PUBLIC_URL
require VAULT_ADMIN_TOKEN secret
if [[ "${upstream}" == real ]]; then
    for name in "${SECRETS[@]:1}"; do require "${name}" secret; done
fi
require LLMGW_TLS_CERT
require LLMGW_TLS_KEY
target="${DOCKER_HOST:-}"
remote=0
[[ "${target}" == ssh://* ]] && remote=1
if [[ -n "${REGISTRY:-}" && -z "${images_file}" ]]; then
    require REGISTRY_USERNAME
    require REGISTRY_PASSWORD secret
fi
if ((remote)) && [[ -z "${REGISTRY:-}" && -z "${images_file}" ]]; then
    die "DOCKER_HOST=${target} is remote: set REGISTRY (images travel through it) or pass --images-file"
fi

prefix="${LLMGW_IMAGE_PREFIX:-llmgw}"
tag="${tag:-${LLMGW_TAG:-$(date -u +%Y%m%d%H%M%S)}}"
[[ "${tag}" =~ ^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$ ]] || die "tag '${tag}' is not a valid image tag"
project="${LLMGW_PROJECT:-llmgw-${env_name}}"
state="${LLMGW_STATE_DIR}"
releases="${state}/releases"
health_timeout="${LLMGW_HEALTH_TIMEOUT_S:-180}"
vault_wait="${LLMGW_VAULT_WAIT_S:-60}"
[[ "${vault_wait}" =~ ^[1-9][0-9]*$ ]] || die "LLMGW_VAULT_WAIT_S must be a positive number of seconds"
public_url="${LLMGW_PUBLIC_URL%/}"
export LLMGW_IMAGE_PREFIX="${prefix}" LLMGW_STATE_DIR="${state}" LLMGW_TAG="${tag}"
export LLMGW_ENV_DIR="${LLMGW_ENV_DIR:-${deploy_dir}/env}"
# Files compose bind-mounts (Vault's config, Prometheus' and Grafana's): the engine reads a mount's source on
# its own host, so host_files copies them there (a remote engine has no checkout).
export LLMGW_CONFIG_DIR="${state}/config"
[[ "${upstream}" == mock ]] && export COMPOSE_PROFILES="${COMPOSE_PROFILES:-mock}"

# Every image compose runs must be published, else compose fails half-way on the server.
published=()
if [[ -n "${images_file}" ]]; then
    while IFS= read -r ref || [[ -n "${ref}" ]]; do
        ref="${ref//[[:space:]]/}"
        [[ -z "${ref}" || "${ref}" == \#* ]] && continue
        published+=("${ref}")
    done <"${images_file}"
    for c in "${COMPONENTS[@]}"; do
        found=0
        for ref in "${published[@]}"; do
            [[ "$(component_of "${ref}")" == "${c}" ]] && found=1
        done
        ((found)) || die "--images-file ${images_file} has no reference for '${c}' (needs ${COMPONENTS[*]})"
    done
fi
# Files read on this machine: refuse early and by name rather than half-way through step 3.
if ! ((dry_run)); then
    for f in LLMGW_TLS_CERT LLMGW_TLS_KEY LLMGW_VAULT_TLS_CERT LLMGW_VAULT_TLS_KEY LLMGW_VAULT_CA; do
        [[ -n "${!f:-}" && -r "${!f}" ]] || die "${f}=${!f:-} is not a readable file"
    done
    services=("${PROVIDERS[@]}")
    [[ "${upstream}" == mock ]] && services+=(mock)
    for s in "${services[@]}"; do
        [[ -f "${LLMGW_ENV_DIR}/${s}.env" ]] \
            || die "${LLMGW_ENV_DIR}/${s}.env not found (per-service settings: deploy/env/${s}.env.example)"
    done
fi
if [[ "${upstream}" == real ]]; then
    for p in "${PROVIDERS[@]}"; do
        f="${LLMGW_ENV_DIR}/${p}.env"
        [[ -f "${f}" ]] || continue
        while IFS= read -r line || [[ -n "${line}" ]]; do
            [[ "${line}" =~ ^[[:space:]]*GATEWAY_UPSTREAM_BASE_URL=.*//mock: ]] \
                && die "${f} points at the mock upstream but LLMGW_UPSTREAM=real: delete its GATEWAY_UPSTREAM_BASE_URL line"
        done <"${f}"
    done
fi

# -- helpers -------------------------------------------------------------------------------------
run() {  # run CMD...: execute, or print under --dry-run
    if ((dry_run)); then printf '  + %s\n' "$*"; else "$@"; fi
}

# on_target: deploy/deploy-target.sh
# shellcheck source=deploy/deploy-target.sh
source "${deploy_dir}/deploy-target.sh"

local_docker() {  # build and push use the local engine even when DOCKER_HOST names the server
    if ((remote)); then env -u DOCKER_HOST docker "$@"; else docker "$@"; fi
}

compose() {
    local files=(-f "${deploy_dir}/docker-compose.yml") extra
    for extra in ${LLMGW_COMPOSE_OVERRIDES:-}; do files+=(-f "${extra}"); done
    if docker compose version >/dev/null 2>&1; then
        docker compose -p "${project}" "${files[@]}" "$@"
    else
        docker-compose -p "${project}" "${files[@]}" "$@"
    fi
}

now() { echo "${EPOCHREALTIME}"; }
step_no=0
step_start=""
step() { step_no=$((step_no + 1)); step_name="$1"; step_start="$(now)"; log "[${step_no}/5] ${step_name} …"; }
done_step() {
    local elapsed
    elapsed="$(awk -v a="${step_start}" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }')"
    log "[${step_no}/5] ${step_name} ✓ ${elapsed}s — $*$( ((dry_run)) && echo ' (dry run: nothing done)')"
}

fail_step() {
    local elapsed
    elapsed="$(awk -v a="${step_start}" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }')"
    log "[${step_no}/5] ${step_name} ✗ ${elapsed}s — $*" >&2
}

image() { echo "${prefix}/$1:$2"; }


# -- releases: one line per attempt: <utc> <tag> <status> ---------------------------------------
previous_live() {
    on_target 'f="$1"; [[ -f "$f" ]] && awk '\''$3 == "live" { t = $2 } END { if (t) print t }'\'' "$f" || true' \
        "${releases}"
}
record() {  # record TAG STATUS
    ((dry_run)) && { printf '  + record %s %s in %s\n' "$1" "$2" "${releases}"; return; }
    on_target 'mkdir -p "$(dirname "$1")" && echo "$2 $3 $4" >>"$1"' "${releases}" \
        "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$1" "$2"
}

# -- steps and rollback: deploy/deploy-steps.sh ---------------------------------------------------
# shellcheck source=deploy/deploy-steps.sh
source "${deploy_dir}/deploy-steps.sh"

# -- main ----------------------------------------------------------------------------------------
if ! ((dry_run)); then
    command -v docker >/dev/null || die "docker CLI not found"
    command -v curl >/dev/null || die "curl not found"
    docker compose version >/dev/null 2>&1 || command -v docker-compose >/dev/null \
        || die "neither 'docker compose' nor docker-compose is installed"
fi
log "env ${env_name} (${env_file}), project ${project}, tag ${tag}, target ${target:-local engine}$(
    ((dry_run)) && echo ', DRY RUN')"
previous=""
if ! ((dry_run && remote)); then previous="$(previous_live)"; fi
started_all="$(now)"

if ((rollback_only)); then
    [[ -n "${previous}" ]] || die "no live release recorded in ${releases}"
    before="$(on_target 'f="$1"; [[ -f "$f" ]] || exit 0
        awk '\''$3 == "live" && $2 != last { tags[++n] = $2; last = $2 } END { if (n >= 2) print tags[n - 1] }'\'' "$f"' \
        "${releases}")"
    [[ -n "${before}" ]] || die "no release before ${previous} in ${releases}"
    tag="${previous}" previous="${before}"
    ((dry_run)) && { log "would roll back ${tag} → ${previous}"; exit 0; }
    rollback "manual rollback of ${tag} requested" rolled-back || exit 1
    exit 0
fi

images_step
push_step
if ! deploy_step; then rollback "deploy of ${tag} failed" failed || true; exit 1; fi
if ! health_step; then rollback "health check of ${tag} failed" failed || true; exit 1; fi
if ! validate_step; then rollback "LangChain validation of ${tag} failed" failed || true; exit 1; fi
if [[ "${previous}" == "${tag}" ]]; then
    log "release ${tag} was already live; re-verified"
else
    record "${tag}" live
fi
((dry_run)) && { log "dry run complete: configuration accepted, nothing changed"; exit 0; }
log "done: ${tag} live on ${project} in $(awk -v a="${started_all}" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }')s"
