"""Policies: the committed .hcl files match the renderer, and gateway policies are read-only, own path."""

from __future__ import annotations

import re
from pathlib import Path

from vaultctl.policies import PROVIDERS, render_policies

POLICY_DIR = Path(__file__).resolve().parents[2] / "deploy" / "vault" / "policies"


def _paths(text: str) -> dict[str, list[str]]:
    blocks = re.findall(r'path "([^"]+)" \{\s*capabilities = \[([^\]]*)\]', text)
    return {path: re.findall(r'"(\w+)"', caps) for path, caps in blocks}


def test_committed_files_match_the_renderer() -> None:
    rendered = render_policies()
    on_disk = {p.stem: p.read_text() for p in POLICY_DIR.glob("*.hcl")}
    assert on_disk == rendered


def test_gateway_policies_read_only_their_own_provider_and_the_registry() -> None:
    for provider in PROVIDERS:
        paths = _paths(render_policies()[f"llm-gateway-{provider}"])
        assert paths == {
            f"secret/data/llm/providers/{provider}": ["read"],
            "secret/data/llm/clients": ["read"],
        }


def test_mount_is_templated() -> None:
    policies = render_policies("kv-llm")
    assert all("secret/" not in text for text in policies.values())
    assert "kv-llm/data/llm/providers/openai" in _paths(policies["llm-gateway-openai"])
    assert "kv-llm/metadata/llm/providers/*" in _paths(policies["llm-rotator"])


def test_rotator_cannot_touch_auth_or_sys() -> None:
    paths = _paths(render_policies()["llm-rotator"])
    assert all(path.startswith("secret/") for path in paths)
    assert all("delete" not in caps and "list" not in caps for caps in paths.values())


def test_secret_id_issuer_only_issues_and_looks_up_gateway_secret_ids() -> None:
    paths = _paths(render_policies()["llm-secret-id-issuer"])
    expected = {}
    for provider in PROVIDERS:
        role = f"auth/approle/role/llm-gateway-{provider}"
        expected |= {f"{role}/role-id": ["read"], f"{role}/secret-id": ["update"],
                     f"{role}/secret-id/lookup": ["update"]}
    assert paths == expected
