"""Client API keys: `lgw_<key_id>_<secret>`; only sha256(secret) is ever stored."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass

PREFIX = "lgw"
KEY_ID_LEN = 12


@dataclass(frozen=True, slots=True)
class ParsedKey:
    """The two halves of a presented client key."""

    key_id: str
    secret: str


def parse(raw: str) -> ParsedKey | None:
    """Split a presented key into id and secret; None when it is not in our format."""
    prefix, sep, rest = raw.partition("_")
    if prefix != PREFIX or not sep:
        return None
    key_id, sep, secret = rest.partition("_")
    if len(key_id) != KEY_ID_LEN or not sep or not (16 <= len(secret) <= 128):
        return None
    return ParsedKey(key_id, secret)


def hash_secret(secret: str) -> str:
    """Return the stored form of a key's secret part."""
    return hashlib.sha256(secret.encode()).hexdigest()


def matches(secret: str, stored_hash: str) -> bool:
    """Compare a presented secret with a stored hash in constant time."""
    return hmac.compare_digest(hash_secret(secret), stored_hash)


def generate() -> tuple[str, str, str]:
    """Create a new key; return (full key, key_id, stored hash)."""
    key_id = base64.b32encode(secrets.token_bytes(10)).decode().lower()[:KEY_ID_LEN]
    secret = secrets.token_urlsafe(24)
    return f"{PREFIX}_{key_id}_{secret}", key_id, hash_secret(secret)
