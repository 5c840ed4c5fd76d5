"""The client-key registry: one KV v2 document `llm/clients` updated with check-and-set.

A client key is `lgw_<key_id>_<secret>`; only sha256(secret) is stored. Rotation adds a
new key_id for the same client and lets the old one expire after an overlap window.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TypeVar

import hvac
from hvac import exceptions as hvac_errors

from vaultctl.connection import VaultctlError
from vaultctl.kv import read_version
from vaultctl.policies import CLIENTS_PATH

T = TypeVar("T")
_CAS_ATTEMPTS = 5


@dataclass(frozen=True, slots=True)
class NewKey:
    """A freshly generated client key; `key` is shown once and never stored."""

    key_id: str
    key: str
    hash: str


def generate_key() -> NewKey:
    """Return a new `lgw_<key_id>_<secret>` key with the SHA-256 of its secret."""
    key_id = base64.b32encode(secrets.token_bytes(10)).decode().lower()[:12]
    secret = secrets.token_urlsafe(24)
    return NewKey(key_id, f"lgw_{key_id}_{secret}", hash_secret(secret))


def hash_secret(secret: str) -> str:
    """Return the stored form of a key's secret part."""
    return hashlib.sha256(secret.encode()).hexdigest()


def record_status(record: dict, now: datetime | None = None) -> str:
    """Return `disabled`, `expired`, `expires <time>` or `active`."""
    if record.get("disabled"):
        return "disabled"
    expires = record.get("expires_at")
    if not expires:
        return "active"
    when = datetime.fromisoformat(str(expires).replace("Z", "+00:00"))
    return "expired" if when <= (now or datetime.now(UTC)) else f"expires {expires}"


def is_usable(record: dict) -> bool:
    """Return whether a record still authenticates (not disabled, not expired)."""
    return record_status(record) not in ("disabled", "expired")


def load_registry(client: hvac.Client, mount: str) -> tuple[int, dict[str, dict]]:
    """Return (document version or 0, {key_id: record})."""
    latest = read_version(client, mount, CLIENTS_PATH)
    if latest is None:
        return 0, {}
    keys = (latest.get("data") or {}).get("keys") or {}
    return int(latest["metadata"]["version"]), dict(keys)


def update_registry(client: hvac.Client, mount: str, mutate: Callable[[dict[str, dict]], T]) -> T:
    """Apply mutate (edits in place; falsy result = no change) and write back with CAS, retrying."""
    for _ in range(_CAS_ATTEMPTS):
        version, keys = load_registry(client, mount)
        result = mutate(keys)
        if not result:
            return result
        try:
            client.secrets.kv.v2.create_or_update_secret(
                path=CLIENTS_PATH, secret={"keys": keys}, cas=version, mount_point=mount
            )
        except hvac_errors.InvalidRequest as exc:
            if "check-and-set" in str(exc):
                continue
            raise
        return result
    raise VaultctlError("the client registry kept changing concurrently; retry")


def _new_record(new: NewKey, name: str, providers: list[str], expires_at: str | None,
                limits: dict[str, int] | None = None) -> dict:
    record = {"hash": new.hash, "providers": sorted(set(providers)), "name": name,
              "disabled": False, "expires_at": expires_at, "not_before": None}
    if limits:
        record["limits"] = dict(limits)
    return record


def create_client(
    client: hvac.Client, mount: str, name: str, providers: list[str], expires_at: str | None = None,
    limits: dict[str, int] | None = None,
) -> NewKey:
    """Add a new key for client `name` scoped to providers (with optional limits); return it (shown once)."""
    new = generate_key()

    def mutate(keys: dict[str, dict]) -> NewKey:
        keys[new.key_id] = _new_record(new, name, providers, expires_at, _set_limits({}, limits or {}))
        return new

    return update_registry(client, mount, mutate)


def ensure_client(
    client: hvac.Client, mount: str, name: str, providers: list[str]
) -> tuple[str, NewKey | None]:
    """Create client `name` unless a usable key exists; align its providers. Return (outcome, new key)."""
    wanted = sorted(set(providers))

    def mutate(keys: dict[str, dict]) -> str:
        usable = [r for r in keys.values() if r.get("name") == name and is_usable(r)]
        stale = [r for r in usable if sorted(r.get("providers") or []) != wanted]
        for record in stale:
            record["providers"] = wanted
        return "providers updated" if stale else ""

    if any(r.get("name") == name and is_usable(r) for r in load_registry(client, mount)[1].values()):
        return update_registry(client, mount, mutate) or "no changes", None
    return "created", create_client(client, mount, name, wanted)


def _select(keys: dict[str, dict], key_id: str | None, name: str | None) -> list[str]:
    if key_id:
        if key_id not in keys:
            raise VaultctlError(f"no client key with key_id {key_id}")
        return [key_id]
    selected = [k for k, r in keys.items() if r.get("name") == name and is_usable(r)]
    if not selected:
        raise VaultctlError(f"no usable key for client {name!r}")
    return selected


def _when(stamp: object) -> datetime:
    return datetime.fromisoformat(str(stamp).replace("Z", "+00:00"))


def rotate_client(
    client: hvac.Client, mount: str, overlap_s: int, key_id: str | None = None, name: str | None = None
) -> tuple[list[str], NewKey]:
    """Add a new key for the client; its old keys expire after overlap_s. Return (old ids, new key)."""
    new = generate_key()

    def mutate(keys: dict[str, dict]) -> tuple[list[str], NewKey]:
        old_ids = _select(keys, key_id, name)
        deadline = datetime.now(UTC) + timedelta(seconds=overlap_s)
        template = keys[old_ids[0]]
        # The new key inherits the client's expiry (the latest of its old keys'; none if any had none),
        # so a rotation can never turn a time-limited credential into a permanent one.
        expiries = [keys[old].get("expires_at") for old in old_ids]
        inherited = None if not all(expiries) else max(expiries, key=_when)
        for old in old_ids:
            record = keys[old]
            current = record.get("expires_at")
            if not current or _when(current) > deadline:
                record["expires_at"] = deadline.isoformat(timespec="seconds")
        keys[new.key_id] = _new_record(new, template.get("name", ""), template.get("providers") or [], inherited,
                                       template.get("limits"))  # limits belong to the client, not the key
        return old_ids, new

    return update_registry(client, mount, mutate)


def _set_limits(current: dict[str, int], changes: dict[str, int]) -> dict[str, int]:
    """Apply limit changes: a positive value sets a limit, 0 removes it (unlimited)."""
    out = dict(current)
    for name, value in changes.items():
        if value < 0:
            raise VaultctlError(f"--{name.replace('_', '-')} must be 0 (unlimited) or a positive integer")
        if value:
            out[name] = value
        else:
            out.pop(name, None)
    return out


def update_limits(
    client: hvac.Client, mount: str, changes: dict[str, int], key_id: str | None = None, name: str | None = None
) -> list[str]:
    """Set or clear limits on one key (by key_id) or every usable key of a client (by name)."""
    if not changes:
        raise VaultctlError("nothing to update: give --rpm, --tpm, --daily-tokens or --monthly-tokens")

    def mutate(keys: dict[str, dict]) -> list[str]:
        ids = _select(keys, key_id, name)
        for selected in ids:
            limits = _set_limits(keys[selected].get("limits") or {}, changes)
            if limits:
                keys[selected]["limits"] = limits
            else:
                keys[selected].pop("limits", None)
        return ids

    return update_registry(client, mount, mutate)


def disable_client(
    client: hvac.Client, mount: str, key_id: str | None = None, name: str | None = None
) -> list[str]:
    """Disable one key (by key_id) or every usable key of a client (by name)."""

    def mutate(keys: dict[str, dict]) -> list[str]:
        ids = _select(keys, key_id, name)
        for selected in ids:
            keys[selected]["disabled"] = True
        return ids

    return update_registry(client, mount, mutate)


def list_clients(client: hvac.Client, mount: str) -> list[dict]:
    """Return registry rows without hashes: key_id, name, providers, status, expires_at, limits."""
    _, keys = load_registry(client, mount)
    return [
        {"key_id": k, "name": r.get("name", ""), "providers": r.get("providers") or [],
         "status": record_status(r), "expires_at": r.get("expires_at"), "limits": r.get("limits") or {}}
        for k, r in sorted(keys.items(), key=lambda item: (item[1].get("name", ""), item[0]))
    ]
