"""Render services/Dockerfile.<target> from the one template, services/docker/Dockerfile.in.

Plain `docker build` (the legacy builder, no BuildKit here) has no include or shared
build context, so the shared stages live in the template and each image's file is
generated. One gateway target per catalogue provider (services/catalogue/providers.toml), plus
`mock`. `--check` exits 1 when a committed file differs from what the template makes
(`python -m catalogue.generate --check`, in `make lint`, covers these files too).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
SERVICES = HERE.parent
if str(SERVICES) not in sys.path:  # run as a script: make the catalogue package importable
    sys.path.insert(0, str(SERVICES))

import catalogue  # noqa: E402

TEMPLATE = HERE / "Dockerfile.in"
GENERATED = "GENERATED from services/docker/Dockerfile.in by services/docker/render.py; do not edit."


# The packages of pyproject.toml; each image keeps the ones it runs (the edge image: nginx/Dockerfile).
PACKAGES = ("catalogue", "devstack", "edge", "gateway", "mockllm", "vaultctl")


# Declared dependencies no code in these images loads, uninstalled once `pip check` has passed.
# hf-xet (8.6 MB) is huggingface_hub's download accelerator for the Hub's Xet storage, pulled in through
# tokenizers (Cohere's and Mistral's SDKs); the gateways never download from the Hub (tokenizers are built
# in process, Cohere's SDK fetches its own over HTTP), and huggingface_hub works without it
# (`huggingface_hub.utils._runtime.is_xet_available()`). tests/containers/test_images.py checks that both
# images still tokenize.
UNUSED_AT_RUNTIME = ("hf-xet",)


def _unused(lock: str) -> str:
    """The UNUSED_AT_RUNTIME packages this lock pins, as extra `pip uninstall` arguments."""
    text = (SERVICES / "constraints" / f"{lock}.txt").read_text()
    return "".join(f" {name}" for name in UNUSED_AT_RUNTIME if f"\n{name}==" in f"\n{text}")


def _packages(*keep: str) -> dict[str, str]:
    drop = [f"/opt/venv/lib/python3*/site-packages/{p}" for p in PACKAGES if p not in keep]
    return {"KEEP": ", ".join(keep), "DROP": " \\\n        ".join(drop)}


def _gateway(row: catalogue.Provider) -> dict[str, str]:
    provider = row.name
    return {
        "PROVIDER": provider,
        **_packages("catalogue", "gateway"),
        "LOCK": row.extra,  # one lock per SDK extra: rows of one kind share it
        "UNUSED": _unused(row.extra),
        "EXTRA": f"[{row.extra},shared]",  # shared: redis + psycopg for replicas
        "TITLE": f"llm-gateway-{provider}",
        "DESCRIPTION": f"LLM gateway for {row.title}; installs only the {row.extra} integration.",
        "PORT": "8000",
        "PORT_VAR": "GATEWAY_PORT",
        "HEALTH_PATH": "/healthz",
        "ENV": "\n".join([
            f"    GATEWAY_PROVIDER={provider} \\",
            "    GATEWAY_HOST=0.0.0.0 \\",
            "    GATEWAY_PORT=8000 \\",
            "    GATEWAY_AUDIT_LOG=/var/lib/llm-gateway/audit.log",
        ]),
        "APPROLE_DIRS": "/etc/llm-gateway/approle",
        "ENTRYPOINT": json.dumps(["python", "-m", "gateway"]),
    }


TARGETS: dict[str, dict[str, str]] = {
    **{row.name: _gateway(row) for row in catalogue.providers()},
    # Core dependencies only, no provider SDK: the mock upstream, and the tools image the
    # compose stack's one-shot vault-bootstrap service runs (`python -m vaultctl ...`).
    "mock": {
        "PROVIDER": "none",
        **_packages("catalogue", "mockllm", "vaultctl"),
        "LOCK": "mock",
        "UNUSED": _unused("mock"),
        "EXTRA": "",
        "TITLE": "llm-gateway-mock",
        "DESCRIPTION": "Mock LLM upstream (OpenAI, Anthropic, Cohere wire protocols) and vaultctl tools.",
        "PORT": "8199",
        "PORT_VAR": "MOCK_PORT",
        "HEALTH_PATH": "/healthz",
        "ENV": "    MOCK_HOST=0.0.0.0 \\\n    MOCK_PORT=8199",
        # vault-bootstrap writes every provider's credentials, each into that provider's volume.
        "APPROLE_DIRS": " ".join(f"/etc/llm-gateway/approle/{p}" for p in catalogue.names()),
        "ENTRYPOINT": json.dumps(["python", "-m", "mockllm"]),
    },
}


def render(target: str) -> str:
    """Return the Dockerfile text for one target."""
    text = TEMPLATE.read_text()
    values = {"GENERATED": GENERATED, "TARGET": target, **TARGETS[target]}
    for key, value in values.items():
        text = text.replace(f"@{key}@", value)
    if "@" in "".join(line for line in text.splitlines() if not line.lstrip().startswith("#")):
        raise ValueError(f"unreplaced placeholder in the {target} Dockerfile")
    return text


def main(argv: list[str] | None = None) -> int:
    """Write (or with --check, compare) every services/Dockerfile.<target>."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail if a file is out of date")
    args = parser.parse_args(argv)
    stale = []
    for target in TARGETS:
        path = SERVICES / f"Dockerfile.{target}"
        text = render(target)
        if args.check:
            if not path.exists() or path.read_text() != text:
                stale.append(path.name)
        else:
            path.write_text(text)
            print(f"wrote {path.relative_to(SERVICES.parent)}")
    if stale:
        print(f"out of date: {', '.join(stale)}; run python services/docker/render.py", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
