#!/usr/bin/env bash
# Start dockerd in the background (idempotent) and wait until `docker info` answers.
# Used by `make containers-*` and .ci/run on machines with no init system.
set -euo pipefail

LOG="${DOCKERD_LOG:-/var/log/dockerd.log}"
TIMEOUT_S="${DOCKERD_TIMEOUT_S:-60}"

if docker info >/dev/null 2>&1; then
    echo "dockerd: already running"
    exit 0
fi
if ! command -v dockerd >/dev/null 2>&1; then
    echo "dockerd: not installed (apt-get install -y docker.io)" >&2
    exit 1
fi

echo "dockerd: starting (log: ${LOG})"
mkdir -p "$(dirname "${LOG}")"
# setsid: keep dockerd alive after the calling shell (make, CI step) exits.
setsid nohup dockerd >>"${LOG}" 2>&1 </dev/null &

deadline=$((SECONDS + TIMEOUT_S))
until docker info >/dev/null 2>&1; do
    if ((SECONDS >= deadline)); then
        echo "dockerd: not ready after ${TIMEOUT_S}s; last log lines:" >&2
        tail -n 30 "${LOG}" >&2 || true
        exit 1
    fi
    sleep 1
done
echo "dockerd: ready after $((SECONDS))s"
