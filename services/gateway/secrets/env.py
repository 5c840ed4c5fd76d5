"""The `env` secrets backend: the provider key and client keys from the environment (laptop default).

A service reads only its own provider's variable (`OPENAI_API_KEY` for openai, …), so a
gateway never sees, and never logs, another provider's key.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Mapping
from pathlib import Path

import catalogue
from gateway.secrets.base import BackendStatus, ClientKeyRecord, SecretsBackend, SecretsError

log = logging.getLogger(__name__)


def provider_env_var(provider: str) -> str:
    """Return the environment variable holding a provider's API key."""
    return catalogue.provider(provider).key_env


def parse_client_keys_spec(spec: str) -> dict[str, ClientKeyRecord]:
    """Parse `key_id:sha256hex:prov1+prov2,…` into records."""
    records: dict[str, ClientKeyRecord] = {}
    for item in filter(None, (part.strip() for part in spec.split(","))):
        fields = item.split(":")
        if len(fields) != 3 or not fields[0] or len(fields[1]) != 64:
            position = len(records) + 1
            raise SecretsError(f"GATEWAY_CLIENT_KEYS entry #{position} is not key_id:sha256hex:providers")
        key_id, digest, providers = fields
        records[key_id] = ClientKeyRecord(
            key_id=key_id, hash=digest.lower(), providers=frozenset(filter(None, providers.split("+")))
        )
    return records


def load_client_keys_file(path: Path) -> dict[str, ClientKeyRecord]:
    """Read `{"keys": {key_id: record}}` from a JSON file."""
    try:
        document = json.loads(path.read_text())
        return {key_id: ClientKeyRecord.from_dict(key_id, data) for key_id, data in document["keys"].items()}
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise SecretsError(f"cannot load client keys from {path}: {type(exc).__name__}") from exc


class EnvSecretsBackend(SecretsBackend):
    """Reads `<PROVIDER>_API_KEY` and client keys from GATEWAY_CLIENT_KEYS and/or a JSON file."""

    name = "env"

    def __init__(
        self,
        provider: str,
        client_keys_spec: str | None = None,
        client_keys_file: Path | str | None = None,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        self.provider = provider
        self._spec = client_keys_spec or ""
        self._file = Path(client_keys_file) if client_keys_file else None
        self._environ = environ if environ is not None else os.environ
        self._key: str | None = None
        self._clients: dict[str, ClientKeyRecord] = {}
        self._loaded_at: float | None = None

    async def start(self) -> None:
        """Read the provider key and the client keys once."""
        self._key = self._environ.get(provider_env_var(self.provider)) or None
        clients = parse_client_keys_spec(self._spec)
        if self._file is not None:
            clients.update(load_client_keys_file(self._file))
        self._clients = clients
        self._loaded_at = time.monotonic()
        if self._key is None:
            log.warning("%s is not set; the %s gateway cannot call its upstream",
                        provider_env_var(self.provider), self.provider)

    def provider_key(self) -> str | None:
        """Return the provider key read at start."""
        return self._key

    def client_keys(self) -> dict[str, ClientKeyRecord]:
        """Return the client keys read at start."""
        return self._clients

    def status(self) -> BackendStatus:
        """Report ok when the provider key is set, degraded with the variable name otherwise."""
        missing = self._key is None
        return BackendStatus(
            backend=self.name,
            ok=not missing,
            degraded=missing,
            reason=f"{provider_env_var(self.provider)} is not set" if missing else None,
            last_refresh=self._loaded_at,
            details={"client_keys": len(self._clients)},
        )
