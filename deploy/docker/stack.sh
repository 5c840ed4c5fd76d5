#!/usr/bin/env bash
# Run the compose stack with local images and mock upstream: up | down | config | ps | logs.
#   up:   prepare host files under LLMGW_STATE_DIR (root token, provider keys, TLS, env files),
#         start everything, wait until nginx is healthy, write ${LLMGW_STATE_DIR}/stack.env
#         (STACK_URL, STACK_CA, STACK_KEY_<P>, STACK_MOCK_URL, VAULT_ADDR) for STACK_ENV_FILE.
#   down: remove containers, networks, volumes and the state directory.
# Real provider keys in OPENAI_API_KEY / ANTHROPIC_API_KEY / COHERE_API_KEY replace the mock keys.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "${here}/../.." && pwd)"
deploy="${repo}/deploy"
python="${PYTHON:-${repo}/.venv/bin/python}"
export LLMGW_STATE_DIR="${LLMGW_STATE_DIR:-${repo}/.stack/compose}"
export LLMGW_ENV_DIR="${LLMGW_ENV_DIR:-${LLMGW_STATE_DIR}/env}"
export COMPOSE_PROFILES="${COMPOSE_PROFILES:-mock}"
project="${LLMGW_PROJECT:-llmgw}"
https_port="${LLMGW_HTTPS_PORT:-8443}"
timeout_s="${LLMGW_UP_TIMEOUT_S:-180}"
APP_UID=10001   # the images' app user (services/docker/Dockerfile.in)
NGINX_UID=33    # www-data in nginx/Dockerfile

compose() {
    local files=(-f "${deploy}/docker-compose.yml")
    [[ "${LLMGW_LOCAL_IMAGES:-1}" == 1 ]] && files+=(-f "${deploy}/docker-compose.local.yml")
    if docker compose version >/dev/null 2>&1; then
        docker compose -p "${project}" "${files[@]}" "$@"
    else
        docker-compose -p "${project}" "${files[@]}" "$@"
    fi
}

prepare() {
    local state="${LLMGW_STATE_DIR}"
    install -d -m 0700 "${state}" "${state}/tls"
    install -d -m 0700 -o "${APP_UID}" -g "${APP_UID}" "${state}/out"
    install -d -m 0755 "${LLMGW_ENV_DIR}"
    if [[ ! -s "${state}/vault-root-token" ]]; then
        (umask 077; "${python}" -c 'import secrets; print("root-" + secrets.token_urlsafe(24))' >"${state}/vault-root-token")
    fi
    if [[ ! -s "${state}/grafana-admin-password" ]]; then  # profile `monitoring`
        (umask 077; "${python}" -c 'import secrets; print(secrets.token_urlsafe(18))' >"${state}/grafana-admin-password")
    fi
    # Mounted into containers running as other uids; the 0700 state directory guards them on the host.
    chmod 0444 "${state}/vault-root-token" "${state}/grafana-admin-password"
    (umask 077; "${python}" - >"${state}/provider-keys.json" <<'PY'
import json, os
print(json.dumps({p: os.environ.get(f"{p.upper()}_API_KEY") or f"mock-key-{p}"
                  for p in ("openai", "anthropic", "cohere")}))
PY
    )
    chown "${APP_UID}:${APP_UID}" "${state}/provider-keys.json"
    if [[ ! -s "${state}/tls/server.pem" ]]; then
        PYTHONPATH="${repo}/services" "${python}" -c 'import sys, pathlib; from devstack.tls import issue
issue(pathlib.Path(sys.argv[1]), ("localhost", "127.0.0.1", "::1", "nginx"))' "${state}/tls"
    fi
    chown -R "${NGINX_UID}:${NGINX_UID}" "${state}/tls"
    chmod 0755 "${state}/tls"
    local f
    for f in "${deploy}"/env/*.env.example; do
        local name; name="$(basename "${f}" .example)"
        [[ -e "${LLMGW_ENV_DIR}/${name}" ]] || cp "${f}" "${LLMGW_ENV_DIR}/${name}"
    done
}

wait_healthy() {
    local started=$1 deadline=$(($1 + timeout_s)) cid status
    while :; do
        cid="$(compose ps -q nginx 2>/dev/null || true)"
        status="$( [[ -n "${cid}" ]] && docker inspect -f '{{.State.Health.Status}}' "${cid}" 2>/dev/null || echo missing)"
        [[ "${status}" == healthy ]] && break
        if ((SECONDS >= deadline)); then
            echo "stack: nginx not healthy after ${timeout_s}s (${status})" >&2
            compose ps >&2 || true
            compose logs --tail=40 >&2 || true
            return 1
        fi
        sleep 1
    done
    echo "stack: healthy in $((SECONDS - started))s"
}

write_env() {
    local state="${LLMGW_STATE_DIR}"
    "${python}" - "${state}" "${https_port}" "${LLMGW_MOCK_PORT:-8199}" "${LLMGW_VAULT_PORT:-8200}" <<'PY' >"${state}/stack.env"
import json, shlex, sys
from pathlib import Path
state, https, mock, vault = Path(sys.argv[1]), *sys.argv[2:]
keys = json.loads((state / "out" / "client-keys.json").read_text())
env = {"STACK_URL": f"https://127.0.0.1:{https}", "STACK_CA": str(state / "tls" / "ca.pem"),
       "STACK_MOCK_URL": f"http://127.0.0.1:{mock}", "VAULT_ADDR": f"http://127.0.0.1:{vault}",
       "STACK_KIND": "compose", "STACK_STATE_DIR": str(state)}
env.update({f"STACK_KEY_{p.upper()}": keys[f"demo-{p}"] for p in ("openai", "anthropic", "cohere")})
for k, v in env.items():
    print(f"export {k}={shlex.quote(v)}")
PY
    chmod 0600 "${state}/stack.env"
    echo "stack: wrote ${state}/stack.env (use STACK_ENV_FILE=${state}/stack.env)"
}

case "${1:-}" in
    up)
        started=${SECONDS}
        prepare
        compose up -d --remove-orphans
        wait_healthy "${started}"
        write_env
        ;;
    down)
        if [[ -d "${LLMGW_STATE_DIR}" ]]; then prepare_needed=0; else prepare_needed=1; fi
        ((prepare_needed)) && prepare  # compose needs the env and secret files to parse
        compose down --volumes --remove-orphans --timeout 30
        rm -rf --one-file-system "${LLMGW_STATE_DIR}"
        echo "stack: down, state removed"
        ;;
    config) prepare; compose config ;;
    ps | logs) compose "$@" ;;
    *) echo "usage: $0 up|down|config|ps|logs" >&2; exit 2 ;;
esac
