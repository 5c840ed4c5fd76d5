"""What each generated region holds, rendered from the catalogue (see regions.py for the markers)."""

from __future__ import annotations

import json

from catalogue import Provider, providers
from catalogue.regions import Block

_STATE = "${LLMGW_STATE_DIR:-../.stack/compose}"


def _each(fmt: str) -> Block:
    """A block of one line per provider: `fmt` with {name}, {upper}, {key_env}, {port}, {mock_path}."""
    return lambda: [fmt.format(**_fields(p)) for p in providers()]


def _fields(p: Provider) -> dict[str, object]:
    return {"name": p.name, "upper": p.upper, "key_env": p.key_env, "port": p.port, "mock_path": p.mock_path,
            "title": p.title}


def _compose_gateways() -> list[str]:
    rows: list[str] = []
    for p in providers():
        rows += [
            f"gateway-{p.name}:",
            "  <<: *gateway",
            f"  image: ${{LLMGW_IMAGE_PREFIX:-llmgw}}/{p.name}:${{LLMGW_TAG:-local}}",
            f'  env_file: [ "${{LLMGW_ENV_DIR:-./env}}/{p.name}.env" ]',
            "  volumes:",
            f"    - approle-{p.name}:/etc/llm-gateway/approle:ro",
            f"    - data-{p.name}:/var/lib/llm-gateway",
            f"    - {_STATE}/vault-tls/ca.pem:/etc/llm-gateway/vault-ca/ca.pem:ro",
            f"  networks: [net-{p.name}, vault-{p.name}, egress-{p.name}]",
            "",
        ]
    return rows


def _compose_networks() -> list[str]:
    rows = [f"net-{p.name}: {{internal: true}}" for p in providers()]
    rows += [f"vault-{p.name}: {{internal: true}}" for p in providers()]
    rows.append("# Outbound to the provider's public API; unused in keyless (mock) runs.")
    return rows + [f"egress-{p.name}: {{}}" for p in providers()]


def _shell_lists() -> list[str]:
    return [
        f"PROVIDERS=({' '.join(p.name for p in providers())})",
        f"PROVIDER_KEY_VARS=({' '.join(p.key_env for p in providers())})",
        f"PROVIDER_EXTRAS=({' '.join(p.extra for p in providers())})",
    ]


def _prometheus_targets() -> list[str]:
    rows: list[str] = []
    for p in providers():
        rows += [f'- targets: ["gateway-{p.name}:8000"]', f"  labels: {{service: gateway-{p.name}}}"]
    return rows


def _helm_providers() -> list[str]:
    rows: list[str] = []
    for p in sorted(providers(), key=lambda p: p.name):
        # A self-hosted row needs its server's URL (and an egress rule to it): off until given them.
        enabled = "false" if p.kind == "openai-compatible" else "true"
        rows += [f"{p.name}:", f"  enabled: {enabled}", '  upstreamBaseUrl: ""', '  models: ""']
    return rows


def _dagger_enum() -> list[str]:
    return [f"{_ident(p)} = {json.dumps(p.name)}" for p in providers()]


def _ident(p: Provider) -> str:
    return p.name.replace("-", "_")


BLOCKS: dict[str, Block] = {
    "compose-gateways": _compose_gateways,
    "compose-networks": _compose_networks,
    "compose-net-list": _each("- net-{name}"),
    "compose-vault-net-list": _each("- vault-{name}"),
    "compose-approle-mounts": _each("- approle-{name}:/etc/llm-gateway/approle/{name}"),
    "compose-volumes": lambda: [f"{kind}-{p.name}: {{}}" for kind in ("data", "approle") for p in providers()],
    "compose-nginx-depends": lambda: [row for p in providers()
                                      for row in (f"gateway-{p.name}:", "  condition: service_healthy")],
    "compose-demo-clients": _each("- --client=demo-{name}:{name}"),
    "shell-providers": _shell_lists,
    "env-provider-keys": _each("{key_env}=<{name}-api-key>"),
    "prometheus-targets": _prometheus_targets,
    "helm-providers": _helm_providers,
    "helm-kind-providers": _each('{name}: {{enabled: true, upstreamBaseUrl: "http://llm-gateway-mock:8199{mock_path}"}}'),
    "dagger-provider-enum": _dagger_enum,
    "dagger-key-args": lambda: [f"{_ident(p)}_key: ProviderKey = None," for p in providers()],
    "dagger-key-given": lambda: ["given = {", *(f'    "{p.name}": {_ident(p)}_key,' for p in providers()), "}"],
}
