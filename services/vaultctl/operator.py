"""Operator steps for a server-mode Vault/OpenBao: init, unseal, a scoped admin token, root revocation.

The production order is: `init` (unseal keys + initial root token go to a file the operator names,
never into the stack's environment) → `unseal` → `admin-token` (the root token writes `llm-admin` and
mints a short-lived token holding only it) → `revoke-root` → `bootstrap` with the admin token.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import hvac
import requests
from hvac import exceptions as hvac_errors

from vaultctl.connection import VaultctlError, write_secret_file
from vaultctl.policies import ADMIN_POLICY, DEFAULT_MOUNT, PROVIDERS, render_policies

# init writes the barrier keys and bootstraps raft storage, unseal starts the raft node: seconds on an
# idle host, longer on a loaded one. Waiting too little for init loses its keys (see init()).
OPERATOR_TIMEOUT_S = 120


def anonymous(addr: str | None, cacert: str | None, timeout_s: int = OPERATOR_TIMEOUT_S) -> hvac.Client:
    """Return a client without a token (init, unseal and seal status need none)."""
    addr = addr or os.environ.get("VAULT_ADDR")
    if not addr:
        raise VaultctlError("VAULT_ADDR is not set (or pass --addr)")
    cacert = cacert or os.environ.get("VAULT_CACERT")
    return hvac.Client(url=addr, verify=cacert or True, timeout=timeout_s)


def init(client: hvac.Client, shares: int, threshold: int, out: Path | None) -> dict:
    """Initialise the server; write unseal keys and root token to out (0600, never overwritten) or return them."""
    if client.sys.is_initialized():
        raise VaultctlError("the server is already initialised; nothing written")
    if out is not None and out.exists():
        raise VaultctlError(f"{out} exists; refusing to overwrite unseal keys")
    try:
        answer = client.sys.initialize(secret_shares=shares, secret_threshold=threshold)
    except (requests.Timeout, requests.ConnectionError) as exc:
        # The server may have finished initialising with keys nobody received: say so, never retry blindly.
        raise VaultctlError(
            f"no answer to init ({type(exc).__name__}): the server may now be initialised with unseal keys "
            "nobody holds. Check `bao status`: if Initialized is true, wipe its storage and init again "
            "(raise --timeout on a slow host)") from exc
    material = {"unseal_keys_b64": answer["keys_base64"], "unseal_threshold": threshold,
                "root_token": answer["root_token"]}
    if out is not None:
        write_secret_file(out, json.dumps(material, indent=2) + "\n")
    return material


def read_unseal_keys(path: Path) -> list[str]:
    """Read unseal keys from an `init` JSON file, or one key per line."""
    text = path.read_text().strip()
    if text.startswith("{"):
        return list(json.loads(text)["unseal_keys_b64"])
    return [line.strip() for line in text.splitlines() if line.strip()]


def unseal(client: hvac.Client, keys: list[str]) -> bool:
    """Submit keys until the server is unsealed; return whether it was sealed before."""
    if not client.sys.is_sealed():
        return False
    for key in keys:
        if not client.sys.submit_unseal_key(key)["sealed"]:
            return True
    raise VaultctlError(f"still sealed after {len(keys)} key(s); the threshold needs more")


def mint_admin_token(root: hvac.Client, out: Path, ttl_s: int, mount: str = DEFAULT_MOUNT,
                     providers: tuple[str, ...] = PROVIDERS) -> str:
    """Write the llm-admin policy and a token holding only it (orphan, not renewable past ttl) to out."""
    root.sys.create_or_update_policy(ADMIN_POLICY, render_policies(mount, providers)[ADMIN_POLICY])
    answer = root.auth.token.create(policies=[ADMIN_POLICY], ttl=f"{ttl_s}s", explicit_max_ttl=f"{ttl_s}s",
                                    no_parent=True, no_default_policy=False, display_name="llm-admin")
    token = answer["auth"]["client_token"]
    write_secret_file(out, token + "\n")
    return answer["auth"]["accessor"]


def revoke_root(client: hvac.Client) -> None:
    """Revoke the client's own token, which must be a root token; verify it no longer works."""
    policies = client.auth.token.lookup_self()["data"].get("policies") or []
    if "root" not in policies:
        raise VaultctlError("the given token is not a root token; nothing revoked")
    client.auth.token.revoke_self()
    try:
        client.auth.token.lookup_self()
    except hvac_errors.Forbidden:
        return
    raise VaultctlError("the root token still answers after revoke-self")
