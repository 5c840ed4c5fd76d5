"""The `vault` secrets backend: login, token renewal and a cached refresh loop (hvac).

Lifecycle:

- `start()` logs in (`vault_login.py`: AppRole with role_id/secret_id files, or Kubernetes with
  the pod's service-account token), loads the provider key and the client registry, and raises
  `SecretsError` when any of that fails — after starting the background task all the same, which
  retries every few seconds: a gateway restarted while Vault is sealed, or before its fresh
  secret_id is written, serves as soon as it can. An AppRole secret_id that is not a UUID is a
  response-wrapping token: it is unwrapped (once) first.
- A background task renews the token at 2/3 of its TTL. When renewal is refused (token
  expired or revoked) or the token nears its max TTL, it logs in again with the secret_id
  file's *current* content. secret_ids are single-use, so re-login needs a fresh one: the
  orchestrator rewrites the file (`vaultctl issue-secret-id --out-dir …`; devstack does it
  locally). Until then the backend keeps its cache and reports degraded. Kubernetes login
  re-reads the (rotated) service-account token instead.
- Every `refresh_s` it re-reads its provider's path and the client registry. Vault
  unreachable → cached key and clients stay in use, status degraded with the reason,
  recovery is automatic. hvac is synchronous, so each call runs in a thread with a timeout.

Nothing here logs a secret: messages carry paths, addresses and error classes only.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import hvac
from hvac import exceptions as hvac_errors

import catalogue
from gateway.errors import ServiceUnavailableError
from gateway.secrets.base import BackendStatus, ClientKeyRecord, SecretsBackend, SecretsError
from gateway.secrets.vault_login import AUTH_REFUSED, AppRoleLogin, VaultLogin

log = logging.getLogger(__name__)
T = TypeVar("T")
_FAILURES = (hvac_errors.VaultError, OSError, TimeoutError, SecretsError)
MAX_REFRESH_S = 30.0


class VaultSecretsBackend(SecretsBackend):
    """Reads one provider's key and the client registry from KV v2 with an AppRole or Kubernetes token."""

    name = "vault"

    def __init__(
        self,
        provider: str,
        addr: str,
        role_id_file: Path | None = None,
        secret_id_file: Path | None = None,
        mount: str = "secret",
        refresh_s: float = 15.0,
        cacert: str | None = None,
        timeout_s: float = 5.0,
        auth: VaultLogin | None = None,
        registry_max_stale_s: float = 300.0,
    ) -> None:
        if not 0 < refresh_s <= MAX_REFRESH_S:
            raise ValueError(f"refresh_s must be in (0, {MAX_REFRESH_S}], got {refresh_s}")
        self.provider, self.addr, self.mount = provider, addr, mount.strip("/")
        self.refresh_s, self.timeout_s = refresh_s, timeout_s
        # Past this age the cached client registry is not trusted (a key disabled in Vault meanwhile
        # would keep working): client keys are refused with 503 until a refresh succeeds.
        self.registry_max_stale_s = registry_max_stale_s
        self.key_path = catalogue.provider(provider).vault_path
        self._verify: bool | str = cacert or True
        self._timeout = max(1, math.ceil(timeout_s))  # hvac types its timeout as int seconds
        self._client = hvac.Client(url=addr, verify=self._verify, timeout=self._timeout)
        if auth is None:
            if role_id_file is None or secret_id_file is None:
                raise ValueError("give role_id_file and secret_id_file (AppRole) or an auth method")
            auth = AppRoleLogin(role_id_file, secret_id_file, self._token_client)
        self.auth = auth
        self._key: str | None = None
        self._key_version: int | None = None
        self._clients: dict[str, ClientKeyRecord] = {}
        self._last_refresh: float | None = None
        self._refresh_error: str | None = None
        self._token_error: str | None = None
        self._login_lease = 0
        self._token_expires_at = 0.0
        self._next_token_action = math.inf
        self._relogin_wanted = False
        self._renewals = 0
        self._logins = 0
        self._failures: Counter[str] = Counter()  # by operation: login, renew, read
        self._key_written_at: str | None = None  # created_time of the key version in use
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Log in and load the provider key and client registry; start the task that keeps them fresh.

        On failure the task starts all the same and retries every few seconds (a restarted gateway
        waits for the orchestrator's fresh secret_id, or for Vault to be unsealed), and SecretsError
        says why nothing is served yet. Call stop() whatever start() did.
        """
        failure: SecretsError | None = None
        try:
            await self._call(self._login_sync)
            await self._call(self._refresh_sync)
        except _FAILURES as exc:
            failure = SecretsError(f"vault backend cannot start: {self._describe(exc)}")
            failure.__cause__ = exc
            self._failures["login" if not self._logins else "read"] += 1
            if not self._logins:  # the login itself failed: retry it soon
                self._token_error = f"login failed: {self._describe(exc)}; retrying"
                self._next_token_action = time.monotonic() + self._retry_s
            else:
                self._refresh_error = self._describe(exc)
        self._task = asyncio.create_task(self._run(), name=f"vault-secrets-{self.provider}")
        if failure is not None:
            raise failure

    async def stop(self) -> None:
        """Stop the refresh task and revoke the token (best effort)."""
        if self._task is not None:
            task, self._task = self._task, None
            task.cancel()
            _, pending = await asyncio.wait({task}, timeout=self.timeout_s + 2.0)
            if pending:  # never hang shutdown on a stuck Vault call
                log.warning("vault: refresh task did not stop within %.0f s", self.timeout_s + 2.0)
        with contextlib.suppress(*_FAILURES):
            await self._call(self._client.auth.token.revoke_self)

    def provider_key(self) -> str | None:
        """Return the cached provider key."""
        return self._key

    def registry_stale(self) -> bool:
        """Return whether the cached client registry is older than registry_max_stale_s (or never loaded)."""
        return self._last_refresh is None or time.monotonic() - self._last_refresh > self.registry_max_stale_s

    def serving(self) -> bool:
        """Fail closed once the client registry is too old to trust."""
        return not self.registry_stale()

    def client_keys(self) -> dict[str, ClientKeyRecord]:
        """Return the cached client registry; raise 503 once it is older than registry_max_stale_s."""
        if self.registry_stale():
            raise ServiceUnavailableError(
                f"the client registry could not be refreshed for over {self.registry_max_stale_s:g} s; "
                "client keys are refused until Vault answers again", code="client_registry_stale")
        return self._clients

    def status(self) -> BackendStatus:
        """Report ok while a key is cached; degraded with the reason when Vault misbehaves."""
        reason = self._token_error or self._refresh_error
        if self._key is None:
            reason = reason or f"no provider key at {self.mount}/{self.key_path}"
        stale = self.registry_stale()
        if stale:
            reason = f"client registry older than {self.registry_max_stale_s:g} s: failing closed ({reason})"
        finite = self._login_lease and not math.isinf(self._token_expires_at)
        remaining = max(0.0, self._token_expires_at - time.monotonic()) if finite else None
        return BackendStatus(
            backend=self.name,
            ok=self._key is not None and not stale,
            degraded=reason is not None,
            reason=reason,
            key_version=self._key_version,
            last_refresh=self._last_refresh,
            details={
                "vault_addr": self.addr,
                "auth_method": self.auth.method,
                "token_ttl_s": None if remaining is None else round(remaining, 1),
                "token_renewals": self._renewals,
                "logins": self._logins,
                "client_keys": len(self._clients),
                "client_registry_stale": stale,
                "failures": dict(self._failures),
                "key_written_at": self._key_written_at,
            },
        )

    async def _call(self, fn: Callable[[], T]) -> T:
        # asyncio.timeout, not wait_for: on Python 3.11 wait_for can swallow a cancellation that
        # lands as the inner call completes, and stop() would then wait for the loop forever.
        async with asyncio.timeout(self.timeout_s + 1.0):
            return await asyncio.to_thread(fn)

    def _describe(self, exc: BaseException) -> str:
        if isinstance(exc, hvac_errors.VaultError):
            detail = ", ".join(exc.errors or []) or type(exc).__name__
            return f"Vault refused ({type(exc).__name__}: {detail})"
        if isinstance(exc, OSError | TimeoutError):
            return f"Vault unreachable at {self.addr} ({type(exc).__name__})"
        return str(exc)

    def _token_client(self, token: str) -> hvac.Client:
        return hvac.Client(url=self.addr, token=token, verify=self._verify, timeout=self._timeout)

    def _login_sync(self) -> None:
        answer = self.auth.login(self._client)
        self._login_lease = int(answer["auth"]["lease_duration"])
        self._logins += 1
        self._relogin_wanted = False
        self._schedule_token(self._login_lease)
        log.info("vault: logged in (%s) for %s (token ttl %ss)", self.auth.method, self.provider, self._login_lease)

    def _renew_sync(self) -> None:
        lease = int(self._client.auth.token.renew_self()["auth"]["lease_duration"])
        self._renewals += 1
        self._schedule_token(lease)
        if lease < self._login_lease:  # capped by token_max_ttl: log in again before the end
            self._relogin_wanted = True

    def _schedule_token(self, lease: int) -> None:
        now = time.monotonic()
        self._token_expires_at = now + lease if lease else math.inf
        self._next_token_action = now + lease * 2 / 3 if lease else math.inf

    def _refresh_sync(self) -> None:
        kv = self._client.secrets.kv.v2
        try:
            document = kv.read_secret_version(
                path=self.key_path, mount_point=self.mount, raise_on_deleted_version=True
            )["data"]
        except hvac_errors.InvalidPath:
            document = None
        try:
            registry = kv.read_secret_version(
                path=catalogue.vault().clients_path, mount_point=self.mount, raise_on_deleted_version=True
            )["data"]["data"].get("keys") or {}
        except hvac_errors.InvalidPath:
            registry = {}
        self._clients = {key_id: ClientKeyRecord.from_dict(key_id, r) for key_id, r in registry.items()}
        self._last_refresh = time.monotonic()
        key = None if document is None else (document.get("data") or {}).get("api_key")
        if document is None or not key:
            self._refresh_error = f"no provider key at {self.mount}/{self.key_path}"
            return
        version = int(document["metadata"]["version"])
        if version != self._key_version:
            log.info("vault: %s key version %s loaded", self.provider, version)
        self._key, self._key_version = key, version
        self._key_written_at = document["metadata"].get("created_time")
        self._refresh_error = None

    @property
    def _retry_s(self) -> float:
        return min(self.refresh_s, 5.0)

    async def _run(self) -> None:
        # Never loaded (start() failed after its login): the first refresh comes as soon as a retry would.
        next_refresh = time.monotonic() + (self.refresh_s if self._last_refresh is not None else self._retry_s)
        while True:
            wake = min(next_refresh, self._next_token_action)
            await asyncio.sleep(max(0.0, wake - time.monotonic()))
            if time.monotonic() >= self._next_token_action:
                if await self._maintain_token():
                    next_refresh = 0.0
            if time.monotonic() >= next_refresh:
                await self._refresh()
                next_refresh = time.monotonic() + self.refresh_s

    async def _refresh(self) -> None:
        try:
            await self._call(self._refresh_sync)
        except AUTH_REFUSED as exc:
            self._failures["read"] += 1
            self._refresh_error = self._describe(exc)
            self._relogin_wanted = True
            self._next_token_action = time.monotonic()
        except _FAILURES as exc:
            self._failures["read"] += 1
            self._refresh_error = self._describe(exc)
            log.warning("vault: refresh failed, serving cached secrets: %s", self._refresh_error)

    async def _maintain_token(self) -> bool:
        """Renew or re-login; return True after a fresh login."""
        now = time.monotonic()
        alive = now < self._token_expires_at - 0.5
        retry_at = now + self._retry_s
        if self._relogin_wanted or not alive:
            try:
                await self._call(self._login_sync)
                self._token_error = None
                return True
            except _FAILURES as exc:
                self._failures["login"] += 1
                self._token_error = f"{'re-login' if self._logins else 'login'} failed: {self._describe(exc)}"
                log.warning("vault: %s", self._token_error)
                if not alive:
                    self._next_token_action = retry_at
                    return False
        try:
            await self._call(self._renew_sync)
            if not self._relogin_wanted:
                self._token_error = None
        except AUTH_REFUSED as exc:
            self._failures["renew"] += 1
            self._token_error = f"token renewal refused: {self._describe(exc)}"
            self._relogin_wanted = True
            self._next_token_action = now
            self._token_expires_at = now
        except _FAILURES as exc:
            self._failures["renew"] += 1
            if not self._relogin_wanted:  # else the re-login error is the actionable reason: keep it
                self._token_error = f"token renewal failed: {self._describe(exc)}"
            self._next_token_action = retry_at
        return False
