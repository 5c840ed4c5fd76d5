"""The provider catalogue: every provider list in the stack is read or generated from providers.toml.

    providers()          every provider row, in catalogue order
    provider(name)       one row (ValueError naming the known ones otherwise)
    names()              the provider names
    vault()              KV mount and the paths (defined once, here)

Stdlib only (tomllib): the gateway image, vaultctl, the mock, devstack, the generators and the
tests all import it, and none of them may need a provider SDK for it.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

CATALOGUE = Path(__file__).with_name("providers.toml")
MOCK_PROTOCOLS = ("openai", "anthropic", "cohere", "mistral")
_NAME = re.compile(r"^[a-z][a-z0-9-]{0,30}[a-z0-9]$")  # a DNS label: service, route, volume, policy names
_ENV = re.compile(r"^[A-Z][A-Z0-9_]*$")
_ADAPTER = re.compile(r"^gateway\.providers\.[a-z_]+:[A-Za-z]+Adapter$")  # module:class of the adapter


class CatalogueError(ValueError):
    """providers.toml is malformed; the message names the row and field."""


@dataclass(frozen=True, slots=True)
class Provider:
    """One catalogue row: a provider deployment (its own gateway, image, route, Vault path)."""

    name: str
    title: str
    kind: str
    adapter: str
    extra: str
    loggers: tuple[str, ...]
    key_env: str
    base_url: str
    models: tuple[str, ...]
    port: int
    mock_protocol: str
    mock_path: str
    streaming: bool
    tools: bool
    embedding_models: tuple[str, ...]

    @property
    def vault_path(self) -> str:
        """KV v2 path of this provider's key."""
        return vault().provider_path.format(name=self.name)

    @property
    def upper(self) -> str:
        """The name as an environment-variable fragment (`local-llama` -> `LOCAL_LLAMA`)."""
        return self.name.upper().replace("-", "_")


@dataclass(frozen=True, slots=True)
class Vault:
    """Where the stack's secrets live in Vault."""

    mount: str
    provider_path: str
    clients_path: str


_FIELDS = {
    "name": str, "title": str, "kind": str, "adapter": str, "extra": str, "loggers": list, "key_env": str,
    "base_url": str, "models": list, "port": int, "mock_protocol": str, "mock_path": str, "streaming": bool,
    "tools": bool, "embedding_models": list,
}


def _row(raw: dict[str, object], index: int) -> Provider:
    where = f"{CATALOGUE.name} provider #{index + 1} ({raw.get('name', '?')})"
    missing = sorted(set(_FIELDS) - set(raw))
    unknown = sorted(set(raw) - set(_FIELDS))
    if missing or unknown:
        raise CatalogueError(f"{where}: missing {missing}, unknown {unknown}")
    for key, typ in _FIELDS.items():
        if not isinstance(raw[key], typ) or (typ is int and isinstance(raw[key], bool)):
            raise CatalogueError(f"{where}: {key} must be a {typ.__name__}")
    fields: dict[str, Any] = {k: tuple(v) if isinstance(v, list) else v for k, v in raw.items()}  # types checked above
    row = Provider(**fields)
    checks = {
        "name": bool(_NAME.match(row.name)),
        "kind": bool(_NAME.match(row.kind)),
        "adapter": bool(_ADAPTER.match(row.adapter)),
        "key_env": bool(_ENV.match(row.key_env)),
        "base_url": row.base_url.startswith(("http://", "https://")),
        "models": bool(row.models),
        "port": 1024 < row.port < 65536,
        "mock_protocol": row.mock_protocol in MOCK_PROTOCOLS,
        "mock_path": row.mock_path == "" or row.mock_path.startswith("/"),
    }
    bad = [key for key, ok in checks.items() if not ok]
    if bad:
        raise CatalogueError(f"{where}: invalid {', '.join(bad)}")
    return row


@cache
def _load() -> tuple[tuple[Provider, ...], Vault]:
    data = tomllib.loads(CATALOGUE.read_text())
    rows = tuple(_row(raw, i) for i, raw in enumerate(data.get("provider", [])))
    for field in ("name", "port", "key_env"):
        values = [getattr(r, field) for r in rows]
        dupes = sorted({str(v) for v in values if values.count(v) > 1})
        if dupes:
            raise CatalogueError(f"{CATALOGUE.name}: duplicate {field} {', '.join(dupes)}")
    routes = [(r.mock_protocol, r.mock_path) for r in rows]
    if len(set(routes)) != len(routes):
        raise CatalogueError(f"{CATALOGUE.name}: two providers share a mock protocol and mock_path")
    return rows, Vault(**data["vault"])


def providers() -> tuple[Provider, ...]:
    """Every provider row, in catalogue order."""
    return _load()[0]


def names() -> tuple[str, ...]:
    """The provider names, in catalogue order."""
    return tuple(p.name for p in providers())


def provider(name: str) -> Provider:
    """The row named `name`."""
    for row in providers():
        if row.name == name:
            return row
    raise ValueError(f"unknown provider {name!r}; known: {', '.join(names())}")


def vault() -> Vault:
    """The KV mount and paths."""
    return _load()[1]


__all__ = ["CATALOGUE", "CatalogueError", "Provider", "Vault", "names", "provider", "providers", "vault"]
