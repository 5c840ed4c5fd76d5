"""The env secrets backend: own provider variable only, client keys from spec and file."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from gateway.secrets.base import SecretsError
from gateway.secrets.env import EnvSecretsBackend, parse_client_keys_spec

DIGEST = hashlib.sha256(b"secret").hexdigest()


async def test_reads_only_its_own_provider_variable() -> None:
    environ = {"OPENAI_API_KEY": "sk-openai", "ANTHROPIC_API_KEY": "sk-anthropic"}
    backend = EnvSecretsBackend("anthropic", environ=environ)
    await backend.start()
    assert backend.provider_key() == "sk-anthropic"
    status = backend.status()
    assert (status.ok, status.degraded, status.reason) == (True, False, None)
    assert "sk-" not in json.dumps(status.as_dict())


async def test_missing_key_is_degraded_with_the_variable_name() -> None:
    backend = EnvSecretsBackend("openai", environ={"ANTHROPIC_API_KEY": "sk-anthropic"})
    await backend.start()
    assert backend.provider_key() is None
    status = backend.status()
    assert (status.ok, status.degraded, status.reason) == (False, True, "OPENAI_API_KEY is not set")


async def test_client_keys_from_spec_and_file(tmp_path: Path) -> None:
    keys_file = tmp_path / "clients.json"
    record = {"hash": DIGEST, "providers": ["cohere"], "name": "svc", "expires_at": "2030-01-01T00:00:00Z"}
    keys_file.write_text(json.dumps({"keys": {"bbbbbbbbbbbb": record}}))
    spec = f"aaaaaaaaaaaa:{DIGEST}:openai+anthropic"
    backend = EnvSecretsBackend("openai", client_keys_spec=spec, client_keys_file=keys_file, environ={})
    await backend.start()
    keys = backend.client_keys()
    assert keys["aaaaaaaaaaaa"].providers == frozenset({"openai", "anthropic"})
    assert keys["bbbbbbbbbbbb"].name == "svc"
    assert keys["bbbbbbbbbbbb"].expires_at is not None


@pytest.mark.parametrize("spec", ["justone", f"id:{DIGEST}", "id:short:openai"])
def test_malformed_spec_is_refused_without_echoing_it(spec: str) -> None:
    with pytest.raises(SecretsError) as caught:
        parse_client_keys_spec(spec)
    assert spec not in str(caught.value)


async def test_unreadable_file_fails_start(tmp_path: Path) -> None:
    backend = EnvSecretsBackend("openai", client_keys_file=tmp_path / "missing.json", environ={})
    with pytest.raises(SecretsError):
        await backend.start()
