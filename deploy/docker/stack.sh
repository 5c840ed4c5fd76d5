#!/usr/bin/env bash
# Run the compose stack with local images and mock upstream: up | unseal | down | config | ps | logs |
# compose ARGS (any docker-compose command on this project and its files, e.g. `compose restart nginx`).
#   up:     prepare host files under LLMGW_STATE_DIR (provider keys, TLS for nginx and Vault, env
#           files), start the server-mode Vault and run the operator flow on it (first start:
#           vaultctl init → unseal → admin-token → revoke-root; later starts: unseal), then start
#           everything, wait until nginx is healthy, write ${LLMGW_STATE_DIR}/stack.env
#           (STACK_URL, STACK_CA, STACK_KEY_<P>, STACK_MOCK_URL, VAULT_ADDR, VAULT_CACERT).
#   unseal: unseal the Vault container again (after it restarted).
#   down:   remove containers, networks, volumes and the state directory.
# The unseal keys (vault-init.json) stay in the state directory for local runs only; production
# keeps them offline (docs/security.md).
# Real provider keys in each provider's key variable (OPENAI_API_KEY, …: the catalogue's key_env)
# replace the mock keys.
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
VAULT_UID=10100 # openbao in deploy/docker/openbao/Dockerfile
vault_url="https://127.0.0.1:${LLMGW_VAULT_PORT:-8200}"

compose() {
    local files=(-f "${deploy}/docker-compose.yml")
    [[ "${LLMGW_LOCAL_IMAGES:-1}" == 1 ]] && files+=(-f "${deploy}/docker-compose.local.yml")
    files+=(-f "${deploy}/docker-compose.demo.yml")
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
    # Placeholder so compose can parse before `vaultctl admin-token` writes the real one.
    [[ -e "${state}/vault-admin-token" ]] || (umask 077; : >"${state}/vault-admin-token")
    if [[ ! -s "${state}/grafana-admin-password" ]]; then  # profile `monitoring`
        (umask 077; "${python}" -c 'import secrets; print(secrets.token_urlsafe(18))' >"${state}/grafana-admin-password")
    fi
    if [[ ! -s "${state}/postgres-password" ]]; then  # profile `shared`
        (umask 077; "${python}" -c 'import secrets; print(secrets.token_urlsafe(18))' >"${state}/postgres-password")
    fi
    # Mounted into containers running as other uids; the 0700 state directory guards them on the host.
    chmod 0444 "${state}/grafana-admin-password" "${state}/postgres-password"
    (umask 077; PYTHONPATH="${repo}/services" "${python}" - >"${state}/provider-keys.json" <<'PY'
import json, os
import catalogue
print(json.dumps({p.name: os.environ.get(p.key_env) or f"mock-key-{p.name}" for p in catalogue.providers()}))
PY
    )
    chown "${APP_UID}:${APP_UID}" "${state}/provider-keys.json"
    if [[ ! -s "${state}/tls/server.pem" ]]; then
        PYTHONPATH="${repo}/services" "${python}" -c 'import sys, pathlib; from devstack.tls import issue
issue(pathlib.Path(sys.argv[1]), ("localhost", "127.0.0.1", "::1", "nginx"))' "${state}/tls"
    fi
    chown -R "${NGINX_UID}:${NGINX_UID}" "${state}/tls"
    chmod 0755 "${state}/tls"
    if [[ ! -s "${state}/vault-tls/server.pem" ]]; then  # SAN `vault` for the containers, 127.0.0.1 for us
        install -d -m 0755 "${state}/vault-tls"
        PYTHONPATH="${repo}/services" "${python}" -c 'import sys, pathlib; from devstack.tls import issue
issue(pathlib.Path(sys.argv[1]), ("vault", "localhost", "127.0.0.1"))' "${state}/vault-tls"
    fi
    chown -R "${VAULT_UID}:${VAULT_UID}" "${state}/vault-tls"
    chmod 0444 "${state}/vault-tls/ca.pem"
    local f
    for f in "${deploy}"/env/*.env.example; do
        local name; name="$(basename "${f}" .example)"
        [[ -e "${LLMGW_ENV_DIR}/${name}" ]] || cp "${f}" "${LLMGW_ENV_DIR}/${name}"
    done
}

vaultctl() {
    VAULT_ADDR="${vault_url}" VAULT_CACERT="${LLMGW_STATE_DIR}/vault-tls/ca.pem" VAULT_TOKEN= \
        PYTHONPATH="${repo}/services" "${python}" -m vaultctl "$@"
}

# Start the Vault container and bring it to unsealed; on its first start also initialise it, mint the
# scoped admin token bootstrap runs with, and revoke the initial root token.
vault_ready() {
    local state="${LLMGW_STATE_DIR}" deadline=$((SECONDS + 60))
    compose up -d vault
    until curl -fsS --cacert "${state}/vault-tls/ca.pem" -o /dev/null "${vault_url}/v1/sys/seal-status" 2>/dev/null; do
        ((SECONDS < deadline)) || { echo "stack: Vault does not answer on ${vault_url}" >&2; compose logs --tail=40 vault >&2; return 1; }
        sleep 1
    done
    if [[ ! -s "${state}/vault-init.json" ]]; then
        vaultctl init --key-shares 3 --key-threshold 2 --out "${state}/vault-init.json"
    fi
    vaultctl unseal --keys-file "${state}/vault-init.json"
    if [[ ! -s "${state}/vault-admin-token" ]]; then
        local root="${state}/.root-token"
        (umask 077; "${python}" -c 'import json, sys; print(json.load(open(sys.argv[1]))["root_token"])' \
            "${state}/vault-init.json" >"${root}")
        vaultctl admin-token --token-file "${root}" --ttl 24h --out "${state}/vault-admin-token"
        vaultctl revoke-root --token-file "${root}"
        rm -f "${root}"
        chown "${APP_UID}:${APP_UID}" "${state}/vault-admin-token"
    fi
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
    PYTHONPATH="${repo}/services" "${python}" - "${state}" "${https_port}" "${LLMGW_MOCK_PORT:-8199}" "${LLMGW_VAULT_PORT:-8200}" <<'PY' >"${state}/stack.env"
import json, os, shlex, sys
from pathlib import Path
state, https, mock, vault = Path(sys.argv[1]), *sys.argv[2:]
keys = json.loads((state / "out" / "client-keys.json").read_text())
env = {"STACK_URL": f"https://127.0.0.1:{https}", "STACK_CA": str(state / "tls" / "ca.pem"),
       "STACK_MOCK_URL": f"http://127.0.0.1:{mock}", "VAULT_ADDR": f"https://127.0.0.1:{vault}",
       "VAULT_CACERT": str(state / "vault-tls" / "ca.pem"),
       "STACK_KIND": "compose", "STACK_STATE_DIR": str(state)}
if os.environ.get("LLMGW_CORS_ORIGINS"):  # the origins nginx allows, for the tests of a browser's view
    env["STACK_CORS_ORIGINS"] = os.environ["LLMGW_CORS_ORIGINS"]
import catalogue
env.update({f"STACK_KEY_{p.upper}": keys[f"demo-{p.name}"] for p in catalogue.providers()})
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
        vault_ready
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
    unseal) vaultctl unseal --keys-file "${LLMGW_STATE_DIR}/vault-init.json" ;;
    config) prepare; compose config ;;
    ps | logs) compose "$@" ;;
    compose) shift; compose "$@" ;;
    *) echo "usage: $0 up|unseal|down|config|ps|logs|compose ARGS" >&2; exit 2 ;;
esac
