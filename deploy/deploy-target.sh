# shellcheck shell=bash
# on_target, sourced by deploy.sh: run a bash script on the host the release goes to (this one, or `ssh://`).
# Uses deploy.sh's `remote` (1 for an ssh:// target) and `target`.

on_target() {  # on_target SCRIPT [ARGS]: run a bash script on the target host; stdin passes through
    if ((remote)); then
        local hostport="${target#ssh://}" port=22 script args=""
        if [[ "${hostport}" =~ ^(.*):([0-9]+)$ ]]; then hostport="${BASH_REMATCH[1]}" port="${BASH_REMATCH[2]}"; fi
        # ssh sends one command line, which the remote login shell (often dash) parses: the script travels as
        # base64 (nothing to quote), the arguments quoted one by one, and stdin stays the caller's, which
        # host_files pipes the secrets through (a script fed on stdin would take its place).
        script="$(printf '%s' "$1" | base64 -w0)"
        if (($# > 1)); then printf -v args ' %q' "${@:2}"; fi
        ssh -p "${port}" "${hostport}" "bash -c \"\$(echo ${script} | base64 -d)\" bash${args}"
    else
        bash -c "$1" bash "${@:2}"
    fi
}
