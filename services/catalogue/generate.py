"""Write (or with --check, compare) every file generated from the provider catalogue.

    python -m catalogue.generate            regenerate
    python -m catalogue.generate --check    exit 1 naming each stale file (`make lint` runs this)

Whole files: services/Dockerfile.<target> (services/docker/render.py), Vault policies (vaultctl),
deploy/env/<provider>.env.example and the prod/staging env files, ci/src/llm_stack/providers.py,
the Helm schema's provider list. Regions (regions.py) in the files of REGION_FILES.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
from collections.abc import Callable
from pathlib import Path

from catalogue import Provider, providers
from catalogue.blocks import BLOCKS
from catalogue.regions import region_names, render_regions

REPO = Path(__file__).resolve().parents[2]
GENERATED = "GENERATED from services/catalogue/providers.toml by `python -m catalogue.generate`; do not edit."
REGION_FILES = (
    "deploy/docker-compose.yml", "deploy/docker-compose.demo.yml", "deploy/deploy.sh", "deploy/docker/build-images.sh",
    "deploy/helm/kind/e2e.sh", "services/constraints/generate.sh", "deploy/monitoring/prometheus.yml",
    "deploy/helm/llm-gateway/values.yaml", "deploy/helm/llm-gateway/ci/kind-values.yaml", "ci/src/llm_stack/main.py",
    "deploy/.env.production.example",
)
ENVIRONMENTS = ("prod", "staging")
# The alert rules and their promtool tests: regions of their own blocks (the files are not in REGION_FILES, whose
# blocks are catalogue.blocks').
ALERT_FILES = ("deploy/monitoring/alerts.yml", "deploy/monitoring/alerts.test.yml")


def _env_example(p: Provider) -> str:
    return f"""\
# gateway-{p.name} settings (non-secret). Copy to {p.name}.env (or set LLMGW_ENV_DIR) before `docker compose up`.
# {GENERATED}
# GATEWAY_PROVIDER is baked into the image and must not be overridden here.
# The provider key is NOT here: vault-bootstrap writes it to Vault (secret/{p.vault_path}) from
# provider-keys.json, and this gateway reads it with its own AppRole. Never put another
# provider's key or credentials in this file.
# Keyless runs (profile `mock`): the mock upstream. Delete this line to call {p.base_url}.
GATEWAY_UPSTREAM_BASE_URL=http://mock:8199{p.mock_path}
# Allowlist, first = default (unset: the catalogue's models).
# GATEWAY_MODELS={",".join(p.models)}
GATEWAY_UPSTREAM_TIMEOUT_S=60
GATEWAY_MAX_RETRIES=2
GATEWAY_LOG_LEVEL=info
GATEWAY_SHUTDOWN_GRACE_S=20
# GATEWAY_WORKERS=1                    # uvicorn worker processes; >1 needs GATEWAY_LIMITS_BACKEND=redis, not approle
# GATEWAY_GC_GEN0_THRESHOLD=20000      # 0 keeps Python's GC defaults
# GATEWAY_STREAM_IDLE_TIMEOUT_S=120    # longest silence between streamed chunks (then an upstream_timeout event)
# GATEWAY_DIRECT_ROUTES=true           # false: FastAPI routes every request (see docs/architecture.md)
{_output_cap(p)}{_upstream_http(p)}{_VAULT_LINES}{_SHARED_LINES}"""


_SHARED_LINES = """\
# More than one replica (compose profile `shared`): one limit count and one usage table for all of them.
# GATEWAY_LIMITS_BACKEND=redis
# GATEWAY_REDIS_URL=redis://redis:6379/0
# GATEWAY_LIMITS_REPLICAS=3               # while Redis is down: limit / (replicas * GATEWAY_WORKERS) a process
# GATEWAY_LIMITS_BUDGETS_ON_OUTAGE=closed # or open: token budgets unchecked while Redis is down
# GATEWAY_USAGE_BACKEND=postgres
# GATEWAY_POSTGRES_DSN=postgresql://llmgw:<postgres-password>@postgres:5432/llmgw
"""


def _output_cap(p: Provider) -> str:
    """The output cap line; a self-hosted server refuses a prompt plus cap beyond its model's context (vLLM)."""
    why = ("keep it below the served model's context (vLLM: --max-model-len)" if p.kind == "openai-compatible"
           else "the cap of a request naming none, or the model's maximum when lower")
    return f"# GATEWAY_MAX_TOKENS_LIMIT=32768       # {why}\n"


def _upstream_http(p: Provider) -> str:
    """The SDK transport setting (openai and anthropic rows: the other SDKs offer no aiohttp client)."""
    if p.extra not in ("openai", "anthropic"):
        return ""
    return "# GATEWAY_UPSTREAM_HTTP=aiohttp        # or httpx (the SDK default pool; see docs/architecture.md)\n"


_VAULT_LINES = """\
# Vault/OpenBao the gateway reads its provider key from (TLS). Point these at an external cluster to
# use one; compose mounts the stack's Vault CA at this path.
GATEWAY_VAULT_ADDR=https://vault:8200
GATEWAY_VAULT_CACERT=/etc/llm-gateway/vault-ca/ca.pem
"""


def _env_deployed(p: Provider, env: str) -> str:
    if p.kind == "openai-compatible":  # no public URL: the catalogue's default is this container's own port
        upstream = (f"The {p.title}: set\n# GATEWAY_UPSTREAM_BASE_URL to its URL (the catalogue's "
                    f"{p.base_url} is this container: the gateway refuses it).")
    else:
        upstream = f"The real {p.title} API is used ({p.base_url}):\n# no GATEWAY_UPSTREAM_BASE_URL."
    return f"""\
# gateway-{p.name} settings for {env} (non-secret; committed). {upstream}
# The provider key is in Vault (secret/{p.vault_path}), never here.
# {GENERATED}
GATEWAY_MODELS={",".join(p.models)}
GATEWAY_UPSTREAM_TIMEOUT_S=60
GATEWAY_MAX_RETRIES=2
GATEWAY_LOG_LEVEL=info
GATEWAY_SHUTDOWN_GRACE_S=20
{_VAULT_LINES}"""


def _ci_providers() -> str:
    rows = [
        '"""The provider list of the Dagger module.', "", GENERATED, '"""', "",
        "from typing import Final", "",
        f"PROVIDERS: Final = ({''.join(f'{json.dumps(p.name)}, ' for p in providers()).rstrip()})",
        "# Environment variable of each provider's key (the gateway and vaultctl read it).",
        "KEY_ENV: Final = {", *(f"    {json.dumps(p.name)}: {json.dumps(p.key_env)}," for p in providers()), "}",
        "# Path of each provider's API on the mock upstream (its base URL there).",
        "MOCK_PATHS: Final = {", *(f"    {json.dumps(p.name)}: {json.dumps(p.mock_path)}," for p in providers()), "}",
    ]
    return "\n".join(rows) + "\n"


def _helm_schema(path: Path) -> str:
    schema = json.loads(path.read_text())
    section = schema["properties"]["providers"]
    section["description"] = "one entry per provider of the catalogue (services/catalogue/providers.toml)"
    section["properties"] = {p.name: {"$ref": "#/definitions/provider"} for p in sorted(providers(), key=_name)}
    return json.dumps(schema, indent=2) + "\n"


def _name(p: Provider) -> str:
    return p.name


def _docker_render() -> Callable[[str], str]:
    """services/docker/render.py's render() (a script, not a package: loaded from its path)."""
    spec = importlib.util.spec_from_file_location("_dockerfile_render", REPO / "services/docker/render.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.render


def outputs() -> dict[Path, str]:
    """{path: expected text} of every generated file and every file with regions."""
    from vaultctl.policies import render_policies

    out: dict[Path, str] = {}
    render = _docker_render()
    for target in (*(p.name for p in providers()), "mock"):
        out[REPO / f"services/Dockerfile.{target}"] = render(target)
    for name, text in render_policies().items():
        out[REPO / f"deploy/vault/policies/{name}.hcl"] = text
    for p in providers():
        out[REPO / f"deploy/env/{p.name}.env.example"] = _env_example(p)
        for env in ENVIRONMENTS:
            out[REPO / f"deploy/env/{env}/{p.name}.env"] = _env_deployed(p, env)
    out[REPO / "ci/src/llm_stack/providers.py"] = _ci_providers()
    schema = REPO / "deploy/helm/llm-gateway/values.schema.json"
    out[schema] = _helm_schema(schema)
    for rel in REGION_FILES:
        path = REPO / rel
        text = path.read_text()
        if not region_names(text):
            raise SystemExit(f"{rel}: no catalogue region (expected '# BEGIN catalogue:<block>')")
        out[path] = render_regions(text, BLOCKS, rel)
    for rel in ALERT_FILES:
        path = REPO / rel
        out[path] = render_regions(path.read_text(), ALERT_BLOCKS, rel)
    return out


def _absent_annotations(p: Provider) -> list[str]:
    return [
        f'summary: "{p.name} gateway: no replica reports metrics"',
        f'description: "No {p.name} gateway has been scraped for 5 minutes: no target (Kubernetes: no pod running, '
        'scaled to 0, all Pending) or every target down (then LLMGatewayDown fires too)."',
        "runbook: docs/troubleshooting.md#no-gateway-of-a-provider-reports-metrics",
    ]


def _provider_absent_rules() -> list[str]:
    """One LLMGatewayProviderAbsent rule per provider (the Helm chart drops the rules of disabled providers)."""
    rows: list[str] = []
    for p in providers():
        if rows:
            rows.append("")
        rows += ["- alert: LLMGatewayProviderAbsent", f"  expr: absent(llm_gateway_ready{{provider=\"{p.name}\"}})",
                 "  for: 5m", "  labels:", "    severity: critical", f"    provider: {p.name}", "  annotations:",
                 *(f"    {line}" for line in _absent_annotations(p))]
    return rows


def _provider_absent_test() -> list[str]:
    """The promtool case of those rules: the first provider's series go stale, every other one keeps reporting."""
    first, *rest = providers()
    rows = [f"# {first.name}'s last replica goes away after 3 minutes (fires 5 minutes later); the others stay.",
            "- interval: 1m", "  input_series:"]
    for p in (first, *rest):
        rows += [f"    - series: 'llm_gateway_ready{{provider=\"{p.name}\"}}'",
                 f"      values: '{'1 1 1 stale' if p is first else '1x30'}'"]
    rows.append("  alert_rule_test:")
    for minute in (2, 6):  # present, then absent for less than 5 minutes
        rows += [f"    - eval_time: {minute}m", "      alertname: LLMGatewayProviderAbsent", "      exp_alerts: []"]
    rows += ["    - eval_time: 15m", "      alertname: LLMGatewayProviderAbsent", "      exp_alerts:",
             f"        - exp_labels: {{severity: critical, provider: {first.name}}}", "          exp_annotations:",
             *(f"            {line}" for line in _absent_annotations(first))]
    return rows


ALERT_BLOCKS = {"alerts-provider-absent": _provider_absent_rules, "alerts-test-provider-absent": _provider_absent_test}


def stale_outputs() -> list[Path]:
    """Generated files that differ from what the catalogue makes."""
    return [path for path, text in outputs().items() if not path.exists() or path.read_text() != text]


def main(argv: list[str] | None = None) -> int:
    """Regenerate every catalogue-derived file, or with --check name the stale ones."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail if a generated file is out of date")
    args = parser.parse_args(argv)
    if args.check:
        stale = stale_outputs()
        for path in stale:
            print(f"out of date: {path.relative_to(REPO)}", file=sys.stderr)
        if stale:
            print("run: python -m catalogue.generate", file=sys.stderr)
        return 1 if stale else 0
    for path, text in outputs().items():
        if not path.exists() or path.read_text() != text:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
            print(f"wrote {path.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
