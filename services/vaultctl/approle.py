"""AppRoles of the gateways and the role_id/secret_id files they log in with."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import hvac
from hvac import exceptions as hvac_errors

from vaultctl.connection import write_secret_file
from vaultctl.policies import gateway_policy_name

_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


@dataclass(frozen=True, slots=True)
class RoleSettings:
    """Token and secret_id lifetimes of a gateway AppRole (seconds)."""

    token_ttl: int = 300
    token_max_ttl: int = 3600
    secret_id_ttl: int = 600
    secret_id_num_uses: int = 1
    # Where a gateway may log in from and use its token (CIDR blocks); empty means anywhere.
    bound_cidrs: tuple[str, ...] = ()

    def desired(self, provider: str) -> dict:
        """Return the role fields as Vault reports them on read."""
        return {
            "secret_id_bound_cidrs": list(self.bound_cidrs),
            "token_bound_cidrs": list(self.bound_cidrs),
            "token_policies": [gateway_policy_name(provider)],
            "token_ttl": self.token_ttl,
            "token_max_ttl": self.token_max_ttl,
            "secret_id_ttl": self.secret_id_ttl,
            "secret_id_num_uses": self.secret_id_num_uses,
            "bind_secret_id": True,
        }


def ensure_role(client: hvac.Client, provider: str, settings: RoleSettings) -> bool:
    """Create or update the provider's AppRole; return whether anything changed."""
    name = gateway_policy_name(provider)
    desired = settings.desired(provider)
    try:
        current = client.auth.approle.read_role(role_name=name)["data"]
    except hvac_errors.InvalidPath:
        current = None
    if current is not None and all((current.get(k) or type(v)()) == v for k, v in desired.items()):
        return False
    client.auth.approle.create_or_update_approle(role_name=name, token_type="service", **desired)  # noqa: S106
    return True


def read_role_id(client: hvac.Client, provider: str) -> str:
    """Return the role_id of the provider's AppRole."""
    return client.auth.approle.read_role_id(role_name=gateway_policy_name(provider))["data"]["role_id"]


def issue_secret_id(client: hvac.Client, provider: str, wrap_ttl: int | None = None) -> str:
    """Issue a secret_id; with wrap_ttl return a single-use wrapping token instead."""
    answer = client.auth.approle.generate_secret_id(
        role_name=gateway_policy_name(provider), wrap_ttl=f"{wrap_ttl}s" if wrap_ttl else None
    )
    if wrap_ttl:
        return answer["wrap_info"]["token"]
    return answer["data"]["secret_id"]


def is_plain_secret_id(value: str) -> bool:
    """Return whether value looks like a Vault-generated secret_id (a UUID) rather than a wrapping token."""
    return bool(_UUID.match(value))


def _expiry(data: dict) -> datetime | None:
    """When a secret_id (expiration_time) or a wrapping token (creation_time + creation_ttl) expires."""
    expires = str(data.get("expiration_time") or "")
    if expires and not expires.startswith("0001-"):
        return datetime.fromisoformat(expires)
    created, ttl = data.get("creation_time"), data.get("creation_ttl")
    if created and ttl:
        return datetime.fromisoformat(str(created)) + timedelta(seconds=int(ttl))
    return None


def secret_id_usable(client: hvac.Client, provider: str, value: str, min_remaining_s: int = 0) -> bool:
    """Return whether a stored secret_id (or wrapping token) can still log in for min_remaining_s seconds.

    A secret_id consumed by a login (single use) or a wrapping token that was unwrapped no longer
    looks up, so both count as used.
    """
    if not value:
        return False
    try:
        if is_plain_secret_id(value):
            role = gateway_policy_name(provider)
            answer = client.auth.approle.read_secret_id(role_name=role, secret_id=value)
        else:
            answer = client.adapter.post("/v1/sys/wrapping/lookup", json={"token": value})
    except (hvac_errors.InvalidRequest, hvac_errors.InvalidPath, hvac_errors.Forbidden):
        return False
    data = answer.get("data") if isinstance(answer, dict) else None
    if not data:
        return False
    expires = _expiry(data)
    return expires is None or expires > datetime.now(UTC) + timedelta(seconds=min_remaining_s)


def credential_paths(out_dir: Path, provider: str) -> tuple[Path, Path]:
    """Return (role_id file, secret_id file) for a provider under out_dir."""
    return out_dir / provider / "role_id", out_dir / provider / "secret_id"


def ensure_credentials(
    client: hvac.Client, provider: str, out_dir: Path, wrap_ttl: int | None, min_remaining_s: int = 0
) -> list[str]:
    """Write role_id and a secret_id usable for min_remaining_s under out_dir/<provider>/; return what was written."""
    role_file, secret_file = credential_paths(out_dir, provider)
    written = []
    role_id = read_role_id(client, provider)
    if not role_file.exists() or role_file.read_text().strip() != role_id:
        write_secret_file(role_file, role_id + "\n")
        written.append(str(role_file))
    existing = secret_file.read_text().strip() if secret_file.exists() else ""
    if not secret_id_usable(client, provider, existing, min_remaining_s):
        write_secret_file(secret_file, issue_secret_id(client, provider, wrap_ttl) + "\n")
        written.append(f"{secret_file} ({f'wrapped, ttl {wrap_ttl}s' if wrap_ttl else 'plain'})")
    return written
