"""Render services/Dockerfile.<target> from the one template, services/docker/Dockerfile.in.

Plain `docker build` (the legacy builder, no BuildKit here) has no include or shared
build context, so the shared stages live in the template and each image's file is
generated. `--check` exits 1 when a committed file differs from what the template makes
(tests/containers/test_dockerfiles.py runs it).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
SERVICES = HERE.parent
TEMPLATE = HERE / "Dockerfile.in"
GENERATED = "GENERATED from services/docker/Dockerfile.in by services/docker/render.py; do not edit."


def _gateway(provider: str, title: str) -> dict[str, str]:
    return {
        "PROVIDER": provider,
        "EXTRA": f"[{provider},shared]",  # shared: redis + psycopg for replicas
        "TITLE": f"llm-gateway-{provider}",
        "DESCRIPTION": f"LLM gateway for {title}; installs only the {provider} integration.",
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
    "openai": _gateway("openai", "OpenAI"),
    "anthropic": _gateway("anthropic", "Anthropic"),
    "cohere": _gateway("cohere", "Cohere"),
    # Core dependencies only, no provider SDK: the mock upstream, and the tools image the
    # compose stack's one-shot vault-bootstrap service runs (`python -m vaultctl ...`).
    "mock": {
        "PROVIDER": "none",
        "EXTRA": "",
        "TITLE": "llm-gateway-mock",
        "DESCRIPTION": "Mock LLM upstream (OpenAI, Anthropic, Cohere wire protocols) and vaultctl tools.",
        "PORT": "8199",
        "PORT_VAR": "MOCK_PORT",
        "HEALTH_PATH": "/healthz",
        "ENV": "    MOCK_HOST=0.0.0.0 \\\n    MOCK_PORT=8199",
        # vault-bootstrap writes every provider's credentials, each into that provider's volume.
        "APPROLE_DIRS": " ".join(f"/etc/llm-gateway/approle/{p}" for p in ("openai", "anthropic", "cohere")),
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
