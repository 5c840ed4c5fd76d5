"""The secrets-backend interface.

A backend owns two things for one provider service: that provider's API key and the
registry of client credentials. Backends load and refresh in the background; the
request path only ever reads the in-memory cache, so a slow or absent secrets store
never adds latency to a request, and an outage degrades readiness instead of failing
traffic while the cached key is still valid.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from datetime import datetime

from gateway.limits.base import Limits


class SecretsError(Exception):
    """The backend cannot provide what it was asked for (start-up or refresh failure)."""


@dataclass(frozen=True, slots=True)
class ClientKeyRecord:
    """A stored client API key: only the SHA-256 of its secret part is kept."""

    key_id: str
    hash: str
    providers: frozenset[str]
    name: str = ""
    disabled: bool = False
    expires_at: datetime | None = None
    not_before: datetime | None = None
    limits: Limits | None = None

    @classmethod
    def from_dict(cls, key_id: str, data: dict) -> ClientKeyRecord:
        """Build a record from its stored JSON form."""
        return cls(
            key_id=key_id,
            hash=str(data["hash"]),
            providers=frozenset(data.get("providers") or ()),
            name=str(data.get("name") or ""),
            disabled=bool(data.get("disabled", False)),
            expires_at=_parse_time(data.get("expires_at")),
            not_before=_parse_time(data.get("not_before")),
            limits=_limits(key_id, data.get("limits")),
        )

    def to_dict(self) -> dict:
        """Return the stored JSON form."""
        return {
            "hash": self.hash,
            "providers": sorted(self.providers),
            "name": self.name,
            "disabled": self.disabled,
            "expires_at": self.expires_at.isoformat() if self.expires_at else None,
            "not_before": self.not_before.isoformat() if self.not_before else None,
            **({"limits": self.limits.to_dict()} if self.limits else {}),
        }


def _limits(key_id: str, data: object) -> Limits | None:
    try:
        return Limits.from_dict(data)
    except ValueError as exc:  # a hand-edited registry: report it like any unreadable registry
        raise SecretsError(f"client key {key_id}: {exc}") from None


def _parse_time(value: object) -> datetime | None:
    if value in (None, ""):
        return None
    if isinstance(value, datetime):
        return value
    return datetime.fromisoformat(str(value).replace("Z", "+00:00"))


@dataclass(slots=True)
class BackendStatus:
    """What `/readyz` reports about the secrets backend."""

    backend: str
    ok: bool
    degraded: bool = False
    reason: str | None = None
    key_version: int | None = None
    last_refresh: float | None = None
    details: dict = field(default_factory=dict)

    def as_dict(self) -> dict:
        """Return a JSON-safe view (never includes a secret)."""
        age = None if self.last_refresh is None else round(time.monotonic() - self.last_refresh, 1)
        return {
            "backend": self.backend,
            "ok": self.ok,
            "degraded": self.degraded,
            "reason": self.reason,
            "key_version": self.key_version,
            "seconds_since_refresh": age,
            **self.details,
        }


class SecretsBackend(ABC):
    """Provides one provider's API key and the client-key registry from memory."""

    name: str = "abstract"

    @abstractmethod
    async def start(self) -> None:
        """Load secrets for the first time; raise SecretsError when impossible."""

    async def stop(self) -> None:
        """Stop background refresh and release connections."""
        return None

    def serving(self) -> bool:
        """Return False when the backend fails closed (its cached secrets are too old to trust)."""
        return True

    @abstractmethod
    def provider_key(self) -> str | None:
        """Return the current provider API key from the cache (no I/O)."""

    @abstractmethod
    def client_keys(self) -> dict[str, ClientKeyRecord]:
        """Return the client-key registry from the cache (no I/O)."""

    @abstractmethod
    def status(self) -> BackendStatus:
        """Return the backend's health for readiness."""
