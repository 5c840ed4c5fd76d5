"""Provider keys in KV v2: read, check-and-set write with rotation metadata, rollback."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import hvac
from hvac import exceptions as hvac_errors

import catalogue
from vaultctl.connection import VaultctlError

DEFAULT_MAX_VERSIONS = 10


@dataclass(frozen=True, slots=True)
class KeyWrite:
    """The outcome of a provider-key write: whether a version was added, and which is current."""

    changed: bool
    version: int
    previous_version: int


def provider_path(provider: str) -> str:
    """Return the KV path (inside the mount) of a provider's key."""
    return catalogue.provider(provider).vault_path


def now_iso() -> str:
    """Return the current UTC time in ISO 8601 with seconds precision."""
    return datetime.now(UTC).replace(microsecond=0).isoformat()


def read_metadata(client: hvac.Client, mount: str, path: str) -> dict | None:
    """Return the KV v2 metadata of path, or None when it does not exist."""
    try:
        return client.secrets.kv.v2.read_secret_metadata(path=path, mount_point=mount)["data"]
    except hvac_errors.InvalidPath:
        return None


def read_version(client: hvac.Client, mount: str, path: str, version: int | None = None) -> dict | None:
    """Return {"data": ..., "metadata": ...} of a version (latest by default), or None."""
    try:
        answer = client.secrets.kv.v2.read_secret_version(
            path=path, version=version, mount_point=mount, raise_on_deleted_version=True
        )
    except hvac_errors.InvalidPath:
        return None
    return answer["data"]


def current_key(client: hvac.Client, mount: str, provider: str) -> tuple[int, str | None]:
    """Return (current version or 0, current api_key or None)."""
    path = provider_path(provider)
    meta = read_metadata(client, mount, path)
    if meta is None:
        return 0, None
    latest = read_version(client, mount, path)
    value = None if latest is None else (latest.get("data") or {}).get("api_key")
    return int(meta.get("current_version") or 0), value


def write_key(
    client: hvac.Client,
    mount: str,
    provider: str,
    value: str,
    rotated_by: str,
    max_versions: int = DEFAULT_MAX_VERSIONS,
    extra_metadata: dict[str, str] | None = None,
) -> KeyWrite:
    """Write value as a new version (CAS on the current one) unless it is already current."""
    if not value:
        raise VaultctlError(f"refusing to write an empty key for {provider}")
    version, existing = current_key(client, mount, provider)
    if existing == value:
        return KeyWrite(False, version, version)
    path = provider_path(provider)
    try:
        answer = client.secrets.kv.v2.create_or_update_secret(
            path=path, secret={"api_key": value}, cas=version, mount_point=mount
        )
    except hvac_errors.InvalidRequest as exc:
        if "check-and-set" in str(exc):
            message = f"{provider}: the key changed concurrently (expected v{version}); retry"
            raise VaultctlError(message) from exc
        raise
    custom = {"rotated_at": now_iso(), "rotated_by": rotated_by, **(extra_metadata or {})}
    client.secrets.kv.v2.update_metadata(
        path=path, max_versions=max_versions, custom_metadata=custom, mount_point=mount
    )
    return KeyWrite(True, int(answer["data"]["version"]), version)


def rollback_key(
    client: hvac.Client, mount: str, provider: str, rotated_by: str, max_versions: int = DEFAULT_MAX_VERSIONS
) -> KeyWrite:
    """Re-write the newest earlier version whose value differs from the current one."""
    path = provider_path(provider)
    meta = read_metadata(client, mount, path)
    if meta is None:
        raise VaultctlError(f"{provider}: no key stored, nothing to roll back")
    current = int(meta["current_version"])
    _, value = current_key(client, mount, provider)
    versions = meta.get("versions") or {}
    for number in sorted((int(v) for v in versions), reverse=True):
        info = versions[str(number)]
        if number >= current or info.get("destroyed") or info.get("deletion_time"):
            continue
        old = read_version(client, mount, path, number)
        old_value = None if old is None else (old.get("data") or {}).get("api_key")
        if old_value and old_value != value:
            extra = {"rolled_back_from": str(current), "restored_version": str(number)}
            return write_key(client, mount, provider, old_value, rotated_by, max_versions, extra)
    raise VaultctlError(f"{provider}: no earlier version with a different key is available")
