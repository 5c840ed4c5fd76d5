"""Keep every gateway's secret_id file usable: `vaultctl refresh-secret-ids` (a vault-agent-like loop).

secret_ids are single-use, so a gateway whose token expired, was revoked, or whose container was
restarted needs a fresh one in its file to log in again (gateway.secrets.vault re-reads the file).
Every interval, for each provider, the refresher looks the current file content up in Vault (AppRole
`secret-id/lookup` for a plain secret_id, `sys/wrapping/lookup` for a wrapping token): consumed by
a login, unwrapped, expired or about to expire → it writes a fresh one (atomic replace, 0600).

It runs with a token holding only the `llm-secret-id-issuer` policy, which `vaultctl bootstrap
--issuer-token-file` mints as a periodic token; the loop renews that token every round.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import hvac
import requests
from hvac import exceptions as hvac_errors

from vaultctl import approle
from vaultctl.connection import Reporter, write_secret_file
from vaultctl.policies import ISSUER_POLICY, PROVIDERS

ISSUER_TOKEN_PERIOD_S = 86400
_GONE = (hvac_errors.InvalidRequest, hvac_errors.InvalidPath, hvac_errors.Forbidden)
RETRYABLE = (hvac_errors.VaultError, requests.RequestException, OSError)


def _is_issuer_token(client: hvac.Client, token: str) -> bool:
    # lookup-self with the token itself (same connection settings): the admin needs no right to look up
    # other tokens.
    own = client.token
    client.token = token
    try:
        data = client.auth.token.lookup_self()["data"]
    except _GONE:
        return False
    finally:
        client.token = own
    return ISSUER_POLICY in (data.get("policies") or [])


def ensure_issuer_role(client: hvac.Client, period_s: int = ISSUER_TOKEN_PERIOD_S) -> bool:
    """Keep the token role that mints orphan periodic issuer tokens; return whether it was written."""
    desired = {"allowed_policies": [ISSUER_POLICY], "orphan": True, "renewable": True,
               "token_period": period_s, "token_type": "service"}
    try:
        current = client.adapter.get(f"/v1/auth/token/roles/{ISSUER_POLICY}")["data"]
    except hvac_errors.InvalidPath:
        current = None
    if current is not None and all(current.get(k) == v for k, v in desired.items()):
        return False
    client.adapter.post(f"/v1/auth/token/roles/{ISSUER_POLICY}", json=desired)
    return True


def ensure_issuer_token(client: hvac.Client, path: Path, period_s: int = ISSUER_TOKEN_PERIOD_S) -> bool:
    """Keep a valid periodic `llm-secret-id-issuer` token in path; return whether a new one was minted.

    The caller's token must be root or hold `llm-admin` (which may write and use that token role).
    """
    existing = path.read_text().strip() if path.exists() else ""
    if existing and _is_issuer_token(client, existing):
        return False
    # Through the token role: an orphan (it outlives the admin token that minted it) holding only the
    # issuer policy, which the admin token itself does not need to hold.
    ensure_issuer_role(client, period_s)
    answer = client.adapter.post(f"/v1/auth/token/create/{ISSUER_POLICY}",
                                 json={"display_name": "secret-id-refresher"})
    write_secret_file(path, answer["auth"]["client_token"] + "\n")
    return True


@dataclass(frozen=True)
class RefreshOptions:
    """What one refresher keeps fresh, and how often."""

    out_dir: Path
    providers: tuple[str, ...] = PROVIDERS
    interval_s: int = 30
    wrap_ttl: int | None = None
    min_remaining_s: int | None = None  # default: two intervals, so a restart never meets an expired one

    @property
    def margin_s(self) -> int:
        """Seconds a stored secret_id must stay valid, else it is replaced now."""
        return self.min_remaining_s if self.min_remaining_s is not None else 2 * self.interval_s


def renew_own_token(client: hvac.Client) -> None:
    """Renew the refresher's own token when it has a TTL (a periodic token); a root token has none."""
    data = client.auth.token.lookup_self()["data"]
    if data.get("renewable") and int(data.get("ttl") or 0) > 0:
        client.auth.token.renew_self()


def refresh_once(client: hvac.Client, opts: RefreshOptions, report: Reporter) -> int:
    """Replace each provider's secret_id that is used, expired or expiring; return how many were written."""
    written = 0
    for provider in opts.providers:
        changes = approle.ensure_credentials(client, provider, opts.out_dir, opts.wrap_ttl, opts.margin_s)
        if changes:
            written += 1
            report.changed("secret-id", provider, "wrote " + ", ".join(changes))
    return written


def run(
    client: hvac.Client,
    opts: RefreshOptions,
    report: Reporter,
    once: bool = False,
    sleep: Callable[[float], None] = time.sleep,
    rounds: int | None = None,
) -> None:
    """Refresh every interval until stopped (or once). Vault errors are reported and retried next round."""
    report.line("refresher", str(opts.out_dir), f"every {opts.interval_s}s, margin {opts.margin_s}s, "
                f"providers {'+'.join(opts.providers)}{', wrapped' if opts.wrap_ttl else ''}")
    done = 0
    while True:
        try:
            renew_own_token(client)
            refresh_once(client, opts, report)
        except RETRYABLE as exc:
            if once:
                raise
            report.line("refresher", "error", f"{type(exc).__name__}; retrying in {opts.interval_s}s")
        done += 1
        if once or (rounds is not None and done >= rounds):
            return
        sleep(opts.interval_s)
