"""Render nginx/nginx.conf from NGINX_* variables (stdlib only: also runs in containers and Dagger)."""

from __future__ import annotations

import argparse
import os
import re
import sys
from collections.abc import Mapping
from pathlib import Path

TEMPLATE = Path(__file__).resolve().parents[2] / "nginx" / "nginx.conf"
_VAR = re.compile(r"\$\{(NGINX_[A-Z0-9_]+)\}")

DEFAULTS = {
    "NGINX_WORKER_PROCESSES": "auto",
    "NGINX_LISTEN_HTTPS": "127.0.0.1:8443",
    "NGINX_LISTEN_HTTP": "127.0.0.1:8080",
    "NGINX_HTTPS_PUBLIC_PORT": "8443",
    "NGINX_UPSTREAM_OPENAI": "127.0.0.1:8101",
    "NGINX_UPSTREAM_ANTHROPIC": "127.0.0.1:8102",
    "NGINX_UPSTREAM_COHERE": "127.0.0.1:8103",
}


class RenderError(ValueError):
    """A required variable is missing."""


def render_text(template: str, values: Mapping[str, str]) -> str:
    """Substitute ${NGINX_*} placeholders; raise RenderError naming any missing variable."""
    merged = {**DEFAULTS, **values}
    missing = sorted({m for m in _VAR.findall(template) if not merged.get(m)})
    if missing:
        raise RenderError(f"missing nginx setting(s): {', '.join(missing)}")
    return _VAR.sub(lambda m: merged[m.group(1)], template)


def render(prefix: Path, values: Mapping[str, str], template: Path = TEMPLATE) -> Path:
    """Write the rendered config under `prefix` and create nginx's writable directories."""
    for sub in ("logs", "tmp/body", "tmp/proxy", "tmp/fastcgi", "tmp/uwsgi", "tmp/scgi"):
        (prefix / sub).mkdir(parents=True, exist_ok=True)
    out = prefix / "nginx.conf"
    out.write_text(render_text(template.read_text(), {"NGINX_PREFIX": str(prefix), **values}))
    return out


def main(argv: list[str] | None = None) -> int:
    """CLI: render with values from the environment."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--prefix", type=Path, required=True, help="nginx prefix directory (absolute)")
    args = parser.parse_args(argv)
    env = {k: v for k, v in os.environ.items() if k.startswith("NGINX_")}
    try:
        path = render(args.prefix.resolve(), env)
    except RenderError as exc:
        print(f"nginx_render: {exc}", file=sys.stderr)
        return 2
    print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
