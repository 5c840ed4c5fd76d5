"""`python -m gateway.validate`: check each provider service's LangChain configuration, spending no tokens.

Remote mode (default) checks running gateways — reachability, /readyz (secrets, provider key,
chat model construction), and with a client key the model allowlist, its enforcement, the
max_tokens limit and the agent's tools — through probes the gateway refuses before any LLM call.
`--settings-only` validates this process's GATEWAY_* environment offline (run it inside a
gateway container): settings, provider key, client keys, files, the constructed LangChain
model's timeout/retries/base URL, the timeout budget and the compiled agent.

Targets come from --target PROVIDER=URL, --edge URL (nginx; one target per provider),
--stack-env FILE (`.stack/env` of `make up`) or VALIDATE_TARGETS. Client keys come from
VALIDATE_CLIENT_KEY_<PROVIDER>, VALIDATE_CLIENT_KEY or the stack env file — never from argv.
Exit status: 0 all checks passed (warnings allowed), 1 a check failed, 2 usage error.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

import catalogue
from gateway.agent.tools import TOOL_NAMES as DEFAULT_TOOLS
from gateway.validation import Report, Target, check_settings, check_target


class UsageError(Exception):
    """The command line or the environment does not describe what to validate."""


def build_parser() -> argparse.ArgumentParser:
    """The command-line interface."""
    parser = argparse.ArgumentParser(prog="python -m gateway.validate", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--target", action="append", default=[], metavar="PROVIDER=URL",
                        help="a gateway (direct URL, or the nginx prefix https://host/PROVIDER); repeatable")
    parser.add_argument("--edge", metavar="URL", help="nginx base URL: validate URL/<provider> for every provider")
    parser.add_argument("--providers", default=",".join(catalogue.names()),
                        help="providers for --edge (comma-separated)")
    parser.add_argument("--stack-env", type=Path, metavar="FILE", help="the local stack's env file (.stack/env)")
    parser.add_argument("--cacert", metavar="PEM", help="CA bundle for https targets (env VALIDATE_CACERT)")
    parser.add_argument("--expect-models", action="append", default=[], metavar="PROVIDER=M1,M2",
                        help="the exact allowlist a provider must serve; repeatable")
    parser.add_argument("--expect-tools", default=",".join(DEFAULT_TOOLS), metavar="T1,T2",
                        help="agent tools every gateway must offer (default: %(default)s)")
    parser.add_argument("--timeout", type=float, default=10.0, help="seconds per HTTP probe (default: %(default)s)")
    parser.add_argument("--settings-only", action="store_true",
                        help="validate this process's GATEWAY_* environment offline; no targets")
    parser.add_argument("--json", action="store_true", help="print one JSON document instead of text")
    return parser


def _pairs(items: Sequence[str], what: str) -> list[tuple[str, str]]:
    pairs = []
    for item in items:
        provider, sep, value = item.partition("=")
        provider = provider.strip().lower()
        if not sep or not value.strip():
            raise UsageError(f"{what} {item!r} is not PROVIDER=VALUE")
        if provider not in catalogue.names():
            raise UsageError(f"{what} {item!r}: unknown provider {provider!r}; known: {', '.join(catalogue.names())}")
        pairs.append((provider, value.strip()))
    return pairs


def _stack_env(path: Path) -> dict[str, str]:
    if not path.is_file():
        raise UsageError(f"--stack-env {path}: no such file (run `make up` first)")
    values = {}
    for line in path.read_text().splitlines():
        found = re.match(r"^(?:export\s+)?([A-Z0-9_]+)=(.*)$", line.strip())
        if found:
            values[found.group(1)] = found.group(2).strip().strip("'\"")
    return values


def resolve_targets(args: argparse.Namespace, env: Mapping[str, str]) -> tuple[list[Target], str | None]:
    """Turn arguments and environment into targets (with client keys) and the CA bundle to trust."""
    urls: dict[str, str] = {}
    keys = {p.name: env.get(f"VALIDATE_CLIENT_KEY_{p.upper}") or env.get("VALIDATE_CLIENT_KEY")
            for p in catalogue.providers()}
    cacert = args.cacert or env.get("VALIDATE_CACERT")
    if args.stack_env:
        stack = _stack_env(args.stack_env)
        for p in catalogue.names():
            if f"STACK_GATEWAY_URL_{p.upper()}" in stack:
                urls[p] = stack[f"STACK_GATEWAY_URL_{p.upper()}"]
            keys[p] = keys[p] or stack.get(f"STACK_KEY_{p.upper()}")
        cacert = cacert or stack.get("STACK_CA")
    if args.edge:
        for p in (x.strip() for x in args.providers.split(",") if x.strip()):
            if p not in catalogue.names():
                raise UsageError(f"--providers: unknown provider {p!r}; known: {', '.join(catalogue.names())}")
            urls[p] = f"{args.edge.rstrip('/')}/{p}"
    env_targets = re.split(r"[,\s]+", env.get("VALIDATE_TARGETS", "").strip())
    targets_spec = args.target or ([t for t in env_targets if t] if not urls else [])
    urls.update(_pairs(targets_spec, "target"))
    if not urls:
        raise UsageError("nothing to validate: give --target PROVIDER=URL, --edge URL, --stack-env FILE, "
                         "VALIDATE_TARGETS, or --settings-only")
    for provider, url in urls.items():
        if not url.startswith(("http://", "https://")):
            raise UsageError(f"target {provider}={url}: the URL must start with http:// or https://")
    expected = {p: tuple(m.strip() for m in v.split(",") if m.strip())
                for p, v in _pairs(args.expect_models, "--expect-models")}
    targets = [Target(p, urls[p], keys.get(p), expected.get(p, ())) for p in catalogue.names() if p in urls]
    return targets, cacert


def run(argv: Sequence[str] | None = None, env: Mapping[str, str] | None = None) -> int:
    """Run the command; return the exit status."""
    env = os.environ if env is None else env
    parser = build_parser()
    args = parser.parse_args(argv)
    report = Report()
    if args.settings_only:
        report.extend(check_settings(env))
    else:
        import httpx

        try:
            targets, cacert = resolve_targets(args, env)
        except UsageError as exc:
            parser.print_usage(sys.stderr)
            print(f"{parser.prog}: error: {exc}", file=sys.stderr)
            return 2
        tools = [t.strip() for t in args.expect_tools.split(",") if t.strip()]
        verify: str | bool = cacert or True
        with httpx.Client(timeout=args.timeout, verify=verify, trust_env=False) as client:
            for target in targets:
                report.extend(check_target(target, client, tools))
    if args.json:
        report.write_json(sys.stdout)
    else:
        report.write_text(sys.stdout)
    return 0 if report.ok else 1


def main() -> None:
    """Entry point of `python -m gateway.validate`."""
    raise SystemExit(run())


if __name__ == "__main__":
    main()
