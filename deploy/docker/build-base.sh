#!/usr/bin/env bash
# Build the local base image (Debian bookworm + python3 + venv + CA bundle) with debootstrap.
# No registry image can be pulled on CI machines here, so Dockerfiles take ARG BASE_IMAGE and
# CI substitutes this image. Idempotent: skips when the image exists (FORCE=1 rebuilds).
set -euo pipefail

IMAGE="${BASE_LOCAL_IMAGE:-llmgw-local/base:bookworm}"
SUITE="${DEBIAN_SUITE:-bookworm}"
CA_BUNDLE="${HOST_CA_BUNDLE:-/etc/ssl/certs/ca-certificates.crt}"

if [[ "${FORCE:-0}" != 1 ]] && docker image inspect "${IMAGE}" >/dev/null 2>&1; then
    echo "base: ${IMAGE} exists, skipping (FORCE=1 to rebuild)"
    exit 0
fi
command -v debootstrap >/dev/null || { echo "base: debootstrap missing (apt-get install -y debootstrap)" >&2; exit 1; }

root="$(mktemp -d "${TMPDIR:-/tmp}/llmgw-rootfs.XXXXXX")"
cleanup() { rm -rf --one-file-system "${root}"; }
trap cleanup EXIT

started=${SECONDS}
echo "base: debootstrap ${SUITE} into ${root} (about a minute)"
debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates \
    "${SUITE}" "${root}" >"${root}.log" 2>&1 || { tail -n 40 "${root}.log" >&2; exit 1; }
rm -f "${root}.log"

echo "base: trimming apt lists, docs and caches"
rm -rf "${root}"/var/lib/apt/lists/* "${root}"/var/cache/apt/*.bin \
    "${root}"/usr/share/doc/* "${root}"/usr/share/man/* "${root}"/usr/share/locale/*
# The host's bundle may carry extra trust anchors (e.g. a package-mirror CA); keep it identical.
install -m 0644 "${CA_BUNDLE}" "${root}/etc/ssl/certs/ca-certificates.crt"
# `python` as in the official image, so ENTRYPOINT ["python", ...] works on both bases.
ln -sf python3 "${root}/usr/bin/python"

echo "base: importing as ${IMAGE}"
tar -C "${root}" --numeric-owner -c . | docker import \
    --change 'ENV LANG=C.UTF-8 PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'CMD ["python3"]' \
    --message "debootstrap ${SUITE} minbase + python3" - "${IMAGE}" >/dev/null
echo "base: ${IMAGE} ready in $((SECONDS - started))s ($(docker image inspect -f '{{.Size}}' "${IMAGE}") bytes)"
