# shellcheck shell=bash
# The five steps of deploy/deploy.sh and its rollback (images, push, deploy, health, validate; rollback).
# Sourced by deploy.sh after it has read and checked its configuration: these functions use its settings
# (tag, prefix, project, target, releases, dry_run, ...) and helpers (run, on_target, compose, step, record).

# -- steps ---------------------------------------------------------------------------------------
images_step() {
    step images
    if [[ -n "${images_file}" ]]; then
        local ref n=0
        for ref in "${published[@]}"; do
            run docker pull -q "${ref}"
            run docker tag "${ref}" "$(image "$(component_of "${ref}")" "${tag}")"
            n=$((n + 1))
        done
        done_step "pulled ${n} published references as ${prefix}/*:${tag}"
        return
    fi
    local missing=() c
    if ! ((dry_run)); then
        for c in "${COMPONENTS[@]}"; do
            local_docker image inspect "$(image "${c}" "${tag}")" >/dev/null 2>&1 || missing+=("${c}")
        done
    fi
    if ((${#missing[@]} == 0 && !rebuild && !dry_run)); then
        done_step "images ${prefix}/*:${tag} exist (use --rebuild to build again)"
        return
    fi
    ((rebuild || dry_run)) && missing=("${COMPONENTS[@]}")
    if ((remote)); then
        run env -u DOCKER_HOST IMAGE_PREFIX="${prefix}" IMAGE_TAG="${tag}" "${deploy_dir}/docker/build-images.sh" \
            "${missing[@]}"
    else
        run env IMAGE_PREFIX="${prefix}" IMAGE_TAG="${tag}" "${deploy_dir}/docker/build-images.sh" "${missing[@]}"
    fi
    done_step "built ${missing[*]} as ${prefix}/*:${tag}"
}

push_step() {
    step push
    if [[ -n "${images_file}" ]]; then done_step "skipped: already published (--images-file)"; return; fi
    if [[ -z "${REGISTRY:-}" ]]; then done_step "skipped: no REGISTRY, the local engine already has the images"; return; fi
    local registry="${REGISTRY%/}" c
    if ((dry_run)); then
        printf '  + docker login %s -u %s --password-stdin\n' "${registry%%/*}" "${REGISTRY_USERNAME}"
    else
        local_docker login "${registry%%/*}" -u "${REGISTRY_USERNAME}" --password-stdin \
            <<<"${REGISTRY_PASSWORD}" >/dev/null
    fi
    for c in "${COMPONENTS[@]}"; do
        run local_docker tag "$(image "${c}" "${tag}")" "${registry}/llm-gateway-${c}:${tag}"
        run local_docker push -q "${registry}/llm-gateway-${c}:${tag}"
    done
    if ((remote)); then  # the server fetches what was just pushed
        for c in "${COMPONENTS[@]}"; do
            run docker pull -q "${registry}/llm-gateway-${c}:${tag}"
            run docker tag "${registry}/llm-gateway-${c}:${tag}" "$(image "${c}" "${tag}")"
        done
    fi
    done_step "pushed ${#COMPONENTS[@]} images to ${registry} (tag ${tag})"
}

# deploy/ files compose bind-mounts (through LLMGW_CONFIG_DIR).
CONFIG_FILES=(vault/openbao.hcl monitoring/prometheus.yml monitoring/alerts.yml monitoring/grafana/provisioning
              monitoring/grafana/dashboards)

host_files() {  # the state directory compose mounts: Vault token, provider keys (until forget_provider_keys), TLS, …
    local keys="{" sep="" i var value
    for i in "${!PROVIDERS[@]}"; do  # {"<provider>": "<its key>", …}: the real keys, or the mock's
        var="${PROVIDER_KEY_VARS[i]}"
        if [[ "${upstream}" == real ]]; then value="${!var}"; else value="mock-key-${PROVIDERS[i]}"; fi
        keys+="${sep}\"${PROVIDERS[i]}\": \"${value}\""
        sep=", "
    done
    keys+="}"
    if ((dry_run)); then
        printf '  + write %s/{vault-admin-token,provider-keys.json,tls/,vault-tls/} (secrets not shown)\n' "${state}"
        printf '  + copy %s to %s/config\n' "${CONFIG_FILES[*]}" "${state}"
        return
    fi
    # One base64 line per file; files are 0444 inside a 0700 directory: containers read them under
    # other uids, other host users cannot.
    # provider-keys.json only seeds: vault-bootstrap writes a key where Vault holds none, so a redeploy
    # never undoes a rotation (rotate with `vaultctl rotate-provider-key`, not by editing .env). It holds the
    # keys only for this release's compose up: deploy_release blanks it afterwards (forget_provider_keys).
    { printf '%s\n' "${VAULT_ADMIN_TOKEN}" | base64 -w0; echo; printf '%s\n' "${keys}" | base64 -w0; echo
      base64 -w0 <"${LLMGW_TLS_CERT}"; echo; base64 -w0 <"${LLMGW_TLS_KEY}"; echo
      base64 -w0 <"${LLMGW_VAULT_TLS_CERT}"; echo; base64 -w0 <"${LLMGW_VAULT_TLS_KEY}"; echo
      base64 -w0 <"${LLMGW_VAULT_CA}"; echo; } | on_target '
        set -euo pipefail; umask 077; s="$1"
        install -d -m 0700 "$s" "$s/out"; install -d -m 0755 "$s/tls" "$s/vault-tls"
        chown 10001:10001 "$s/out" 2>/dev/null || chmod 0733 "$s/out"
        for f in vault-admin-token provider-keys.json tls/server.pem tls/server.key \
                 vault-tls/server.pem vault-tls/server.key vault-tls/ca.pem; do
            IFS= read -r line; printf "%s" "$line" | base64 -d >"$s/$f.new"
            chmod 0444 "$s/$f.new"; mv -f "$s/$f.new" "$s/$f"
        done
        # Profiles `monitoring` and `shared`: random, kept across releases. compose checks every secret file
        # its file declares, so both exist even when their profile is off.
        for f in grafana-admin-password postgres-password; do
            if [[ ! -s "$s/$f" ]]; then
                head -c 18 /dev/urandom | base64 | tr -d "/+=\n" >"$s/$f.new"
                chmod 0444 "$s/$f.new"; mv -f "$s/$f.new" "$s/$f"
            fi
        done' "${state}"
    # The files compose bind-mounts from LLMGW_CONFIG_DIR, replaced whole: the engine's host may have no checkout.
    tar -C "${deploy_dir}" -cf - "${CONFIG_FILES[@]}" | on_target '
        set -euo pipefail; d="$1/config"
        rm -rf "$d.new"; mkdir -p "$d.new"; tar -C "$d.new" --no-same-owner -xf -
        chmod -R a+rX,go-w "$d.new"  # read by the containers under their own uids
        rm -rf "$d"; mv "$d.new" "$d"' "${state}"
}

deploy_release() {  # deploy_release TAG: compose up the release's images, then blank provider-keys.json
    export LLMGW_TAG="$1"
    local rc=0
    { vault_unsealed && admin_token_lasts && run compose up -d --remove-orphans; } || rc=$?
    forget_provider_keys || echo "deploy: warning: ${state}/provider-keys.json still holds the provider keys" \
        "(could not replace it with {}): replace it by hand; Vault holds them" >&2
    return "${rc}"
}

# vault-bootstrap is the only reader of provider-keys.json, and once this release's compose up has returned,
# succeeded or not, it has run (the gateways wait for it to complete) or will not run in this release: the next
# deploy writes the keys again. So they do not stay at rest on the server: the file becomes {} (bootstrap then
# keeps what Vault holds; the file stays because compose checks every secret file it declares). A bootstrap
# already started keeps reading the old file through its bind mount, so the swap cannot race it. Deploy and
# rollback (manual or automatic) both pass here; the same mode, owner and atomic rename as host_files.
forget_provider_keys() {
    if ((dry_run)); then
        printf '  + replace %s/provider-keys.json with {} (vault-bootstrap is done with it)\n' "${state}"
        return
    fi
    on_target '
        set -euo pipefail; f="$1/provider-keys.json"
        [[ -e "$f" ]] || exit 0
        umask 077; printf "{}\n" >"$f.new"
        chmod 0444 "$f.new"; chown --reference="$f" "$f.new" 2>/dev/null || true
        mv -f "$f.new" "$f"' "${state}"
}

# Each release runs vault-bootstrap again with VAULT_ADMIN_TOKEN, and the gateways wait for it: compose would
# stop them, then find the token expired (`vaultctl admin-token` mints it for 1 h unless told otherwise) and
# start none. So the token is looked up in the compose Vault first (on stdin, never in an argument or the
# environment of a container), and must have ADMIN_TOKEN_MIN_TTL_S left. Not checked against an external
# LLMGW_VAULT_ADDR, which the compose Vault's CLI cannot reach.
ADMIN_TOKEN_MIN_TTL_S=300
admin_token_lasts() {
    [[ -n "${LLMGW_VAULT_ADDR:-}" ]] && return 0
    ((dry_run)) && return 0
    local out rc=0 ttl
    out="$(printf '%s\n' "${VAULT_ADMIN_TOKEN}" |
           compose exec -T vault sh -c 'BAO_TOKEN="$(cat)" exec bao token lookup -format=json' 2>&1)" || rc=$?
    if ((rc != 0)); then
        echo "deploy: Vault refuses VAULT_ADMIN_TOKEN (expired or revoked; \`bao token lookup\` exit ${rc}): mint" \
             "another with vaultctl admin-token (docs/deployment.md), then run deploy.sh again. Nothing was stopped." >&2
        return 1
    fi
    ttl="$(grep -o '"ttl": *[0-9]*' <<<"${out}" | head -1 | grep -o '[0-9]*$' || true)"
    if [[ "${ttl}" =~ ^[0-9]+$ ]] && ((ttl > 0 && ttl < ADMIN_TOKEN_MIN_TTL_S)); then  # 0: it never expires
        echo "deploy: VAULT_ADMIN_TOKEN expires in ${ttl} s, too soon for a release (at least" \
             "${ADMIN_TOKEN_MIN_TTL_S} s): mint another with vaultctl admin-token --ttl (docs/deployment.md)." \
             "Nothing was stopped." >&2
        return 1
    fi
}

# The server-mode Vault starts sealed (and, the first time, uninitialised); unsealing is an operator
# step with keys deploy.sh never holds. Once Vault answers sealed with Shamir keys, or uninitialised,
# only the operator can change that: refuse at once, with the steps. Wait (LLMGW_VAULT_WAIT_S, 60 s)
# only while it does not answer yet, or while an auto-unseal (a `seal` stanza) may still unseal it.
vault_unsealed() {
    [[ -n "${LLMGW_VAULT_ADDR:-}" ]] && return 0  # an external cluster: its operators unseal it
    run compose up -d vault
    ((dry_run)) && return 0
    local i rc=0 out="" initialised="" sealed="" seal=""
    for ((i = 0; i < (vault_wait + 1) / 2; i++)); do
        rc=0
        out="$(compose exec -T vault bao status -format=json 2>/dev/null)" || rc=$?
        ((rc == 0)) && return 0
        if ((rc == 2)); then  # answers: sealed or not initialised
            initialised="$(grep -o '"initialized": *[a-z]*' <<<"${out}" | grep -o '[a-z]*$' || true)"
            sealed="$(grep -o '"sealed": *[a-z]*' <<<"${out}" | grep -o '[a-z]*$' || true)"
            seal="$(grep -o '"type": *"[a-z0-9-]*"' <<<"${out}" | head -1 | grep -o '"[a-z0-9-]*"$' | tr -d '"' || true)"
            if [[ "${initialised}" == false || "${seal}" == shamir ]]; then
                echo "deploy: Vault is sealed or not initialised (initialized: ${initialised:-?}, sealed:" \
                     "${sealed:-?}, seal: ${seal:-?}). Once: vaultctl init --out <offline file>, then vaultctl" \
                     "unseal, admin-token (put it in VAULT_ADMIN_TOKEN) and revoke-root; after a restart:" \
                     "vaultctl unseal (docs/deployment.md). Then run deploy.sh again." >&2
                return 1
            fi
        fi
        sleep 2
    done
    echo "deploy: Vault did not report unsealed within ${vault_wait} s (last \`bao status\` exit ${rc}${seal:+, seal: ${seal}});" \
         "see \`docker logs\` of the ${project} vault container." >&2
    return 1
}

deploy_step() {
    step deploy
    host_files || { fail_step "cannot write ${state}"; return 1; }
    if [[ -n "${previous}" ]]; then
        log "    previous live release: ${previous}"
    fi
    if ! deploy_release "${tag}"; then
        fail_step "compose up failed for ${tag}"
        return 1
    fi
    done_step "${project} running ${prefix}/*:${tag} on ${target:-the local engine}"
}

check_url() {
    local opts=(-fsS -o /dev/null --max-time 5)
    [[ -n "${LLMGW_HEALTH_CACERT:-}" ]] && opts+=(--cacert "${LLMGW_HEALTH_CACERT}")
    curl "${opts[@]}" "$1"
}

health_step() {
    step health
    local paths=(/healthz) p deadline pending
    for p in "${PROVIDERS[@]}"; do paths+=("/${p}/healthz" "/${p}/readyz"); done
    if ((dry_run)); then
        for p in "${paths[@]}"; do printf '  + curl -fsS %s%s\n' "${public_url}" "${p}"; done
        done_step "dry run"
        return
    fi
    deadline=$((SECONDS + health_timeout))
    while :; do
        pending=()
        for p in "${paths[@]}"; do check_url "${public_url}${p}" 2>/dev/null || pending+=("${p}"); done
        ((${#pending[@]} == 0)) && break
        if ((SECONDS >= deadline)); then
            echo "deploy: health: not green after ${health_timeout}s: ${pending[*]}" >&2
            fail_step "not green"
            return 1
        fi
        sleep 2
    done
    done_step "${public_url}: ${#paths[@]} checks green"
}

validate_step() {
    step validate
    local p cid failed=() key=()
    [[ -n "${VALIDATE_CLIENT_KEY:-}" ]] && key=(-e "VALIDATE_CLIENT_KEY=${VALIDATE_CLIENT_KEY}")
    # Inside each gateway container: its own GATEWAY_* settings, then the live service on its own port.
    local script='python -m gateway.validate --settings-only; s=$?
        python -m gateway.validate --target "$1=http://127.0.0.1:8000"; exit $((s | $?))'
    for p in "${PROVIDERS[@]}"; do
        if ((dry_run)); then
            printf '  + docker exec <gateway-%s> python -m gateway.validate --settings-only\n' "${p}"
            printf '  + docker exec <gateway-%s> python -m gateway.validate --target %s=http://127.0.0.1:8000\n' \
                "${p}" "${p}"
            continue
        fi
        cid="$(compose ps -q "gateway-${p}" 2>/dev/null)" || cid=""
        if [[ -z "${cid}" ]]; then failed+=("${p} (no container)"); continue; fi
        docker exec "${key[@]}" "${cid}" sh -c "${script}" sh "${p}" 2>&1 | sed "s/^/    /" || failed+=("${p}")
    done
    if ((${#failed[@]})); then
        fail_step "failed: ${failed[*]}"
        return 1
    fi
    done_step "LangChain configuration valid for ${PROVIDERS[*]}"
}

rollback() {  # rollback REASON STATUS: mark the current tag STATUS, bring `previous` back
    local started; started="$(now)"
    record "${tag}" "$2"
    if [[ -z "${previous}" || "${previous}" == "${tag}" ]]; then
        echo "deploy: $1; no previous live release to roll back to — ${tag} left in place for inspection" >&2
        return 1
    fi
    echo "deploy: $1; rolling back to ${previous}" >&2
    tag="${previous}"
    step_no=3
    # Containers of the failed release may still be restarting: one retry rides that out.
    if ! { deploy_release "${previous}" || { sleep 5 && deploy_release "${previous}"; }; } || ! health_step; then
        echo "deploy: rollback to ${previous} did not come back healthy either" >&2
        return 1
    fi
    record "${previous}" live
    log "rolled back to ${previous} in $(awk -v a="${started}" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }')s"
}
