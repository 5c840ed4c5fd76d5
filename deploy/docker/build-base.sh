#!/usr/bin/env bash
# Build the local base images with debootstrap. No registry image can be pulled on CI machines here,
# so Dockerfiles take ARG BASE_IMAGE and CI substitutes these for the official ones:
#   llmgw-local/debian:bookworm   Debian minbase + CA bundle    (for debian:bookworm-slim: the edge image)
#   llmgw-local/base:bookworm     the above + python3 + venv    (for python:3.11-slim: every other image)
# Idempotent: skips when both exist (FORCE=1 rebuilds). Prints both sizes.
set -euo pipefail

DEBIAN_IMAGE="${DEBIAN_LOCAL_IMAGE:-llmgw-local/debian:bookworm}"
IMAGE="${BASE_LOCAL_IMAGE:-llmgw-local/base:bookworm}"
SUITE="${DEBIAN_SUITE:-bookworm}"
CA_BUNDLE="${HOST_CA_BUNDLE:-/etc/ssl/certs/ca-certificates.crt}"

if [[ "${FORCE:-0}" != 1 ]] && docker image inspect "${DEBIAN_IMAGE}" "${IMAGE}" >/dev/null 2>&1; then
    echo "base: ${DEBIAN_IMAGE} and ${IMAGE} exist, skipping (FORCE=1 to rebuild)"
    exit 0
fi
command -v debootstrap >/dev/null || { echo "base: debootstrap missing (apt-get install -y debootstrap)" >&2; exit 1; }

root="$(mktemp -d "${TMPDIR:-/tmp}/llmgw-rootfs.XXXXXX")"
cleanup() { rm -rf --one-file-system "${root}"; }
trap cleanup EXIT

started=${SECONDS}
echo "base: debootstrap ${SUITE} into ${root} (about a minute)"
debootstrap --variant=minbase --include=ca-certificates \
    "${SUITE}" "${root}" >"${root}.log" 2>&1 || { tail -n 40 "${root}.log" >&2; exit 1; }
rm -f "${root}.log"

echo "base: trimming apt lists, the downloaded packages, docs and caches"
# debootstrap leaves every package it installed in /var/cache/apt/archives (about 45 MB).
rm -rf "${root}"/var/lib/apt/lists/* "${root}"/var/cache/apt/*.bin "${root}"/var/cache/apt/archives/*.deb \
    "${root}"/usr/share/doc/* "${root}"/usr/share/man/* "${root}"/usr/share/locale/*
# The host's bundle may carry extra trust anchors (e.g. a package-mirror CA); keep it identical.
install -m 0644 "${CA_BUNDLE}" "${root}/etc/ssl/certs/ca-certificates.crt"

echo "base: importing as ${DEBIAN_IMAGE}"
tar -C "${root}" --numeric-owner -c . | docker import \
    --change 'ENV LANG=C.UTF-8 PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'CMD ["bash"]' \
    --message "debootstrap ${SUITE} minbase" - "${DEBIAN_IMAGE}" >/dev/null

# Python layered on Debian the way the official image is; `python` as there, so
# ENTRYPOINT ["python", ...] works on both bases. The Dockerfile comes on stdin: no build context.
echo "base: ${IMAGE} = ${DEBIAN_IMAGE} + python3, python3-venv (apt, in a build container)"
DOCKER_BUILDKIT=0 docker build -q -t "${IMAGE}" - >/dev/null 2>"${root}.log" <<DOCKERFILE || { cat "${root}.log" >&2; exit 1; }
FROM ${DEBIAN_IMAGE}
RUN apt-get update \\
    && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends python3 python3-venv \\
    && rm -rf /var/lib/apt/lists/* /var/cache/apt/* /usr/share/doc/* /usr/share/man/* \\
    && ln -sf python3 /usr/bin/python
CMD ["python3"]
DOCKERFILE

rm -f "${root}.log"
size() { docker image inspect -f '{{.Size}}' "$1" | awk '{printf "%.1f MB", $1 / 1e6}'; }
echo "base: ready in $((SECONDS - started))s: ${DEBIAN_IMAGE} $(size "${DEBIAN_IMAGE}"), ${IMAGE} $(size "${IMAGE}")"
