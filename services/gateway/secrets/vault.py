"""The `vault` secrets backend: AppRole login, token renewal and a cached refresh loop (hvac).

Lifecycle:

- `start()` reads the role_id and secret_id files. A secret_id that is not a UUID is a
  response-wrapping token: it is unwrapped (once) first. It logs in, loads the provider key
  and the client registry, and raises `SecretsError` when any of that fails.
- A background task renews the token at 2/3 of its TTL. When renewal is refused (token
  expired or revoked) or the token nears its max TTL, it logs in again with the secret_id
  file's *current* content. secret_ids are single-use, so re-login needs a fresh one: the
  orchestrator rewrites the file (`vaultctl issue-secret-id --out-dir …`; devstack does it
  locally). Until then the backend keeps its cache and reports degraded.
- Every `refresh_s` it re-reads its provider's path and the client registry. Vault
  unreachable → cached key and clients stay in use, status degraded with the reason,
  recovery is automatic. hvac is synchronous, so each call runs in a thread with a timeout.

Nothing here logs a secret: messages carry paths, addresses and error classes only.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import math
import re
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import hvac
from hvac import exceptions as hvac_errors

from gateway.secrets.base import BackendStatus, ClientKeyRecord, SecretsBackend, SecretsError

log = logging.getLogger(__name__)
T = TypeVar("T")
_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
_AUTH_REFUSED = (hvac_errors.Forbidden, hvac_errors.Unauthorized, hvac_errors.InvalidRequest)
_FAILURES = (hvac_errors.VaultError, OSError, TimeoutError, SecretsError)
MAX_REFRESH_S = 30.0


def _read(path: Path) -> str:
    try:
        return path.read_text().strip()
    except OSError as exc:
        raise SecretsError(f"cannot read {path}: {exc.strerror or type(exc).__name__}") from exc


class VaultSecretsBackend(SecretsBackend):
    """Reads one provider's key and the client registry from KV v2 with an AppRole token."""

    name = "vault"

    def __init__(
        self,
        provider: str,
        addr: str,
        role_id_file: Path,
        secret_id_file: Path,
        mount: str = "secret",
        refresh_s: float = 15.0,
        cacert: str | None = None,
        timeout_s: float = 5.0,
    ) -> None:
        if not 0 < refresh_s <= MAX_REFRESH_S:
            raise ValueError(f"refresh_s must be in (0, {MAX_REFRESH_S}], got {refresh_s}")
        self.provider, self.addr, self.mount = provider, addr, mount.strip("/")
        self.role_id_file, self.secret_id_file = Path(role_id_file), Path(secret_id_file)
        self.refresh_s, self.timeout_s = refresh_s, timeout_s
        self.key_path = f"llm/providers/{provider}"
        self._verify: bool | str = cacert or True
        self._timeout = max(1, math.ceil(timeout_s))  # hvac types its timeout as int seconds
        self._client = hvac.Client(url=addr, verify=self._verify, timeout=self._timeout)
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
        self._used_secret: str | None = None  # sha256 of the secret_id file content already consumed
        self._pending_secret_id: str | None = None  # unwrapped but not yet used for a login
        self._renewals = 0
        self._logins = 0
        self._failures: Counter[str] = Counter()  # by operation: login, renew, read
        self._key_written_at: str | None = None  # created_time of the key version in use
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Log in and load the provider key and client registry; start the refresh task."""
        try:
            await self._call(self._login_sync)
            await self._call(self._refresh_sync)
        except _FAILURES as exc:
            raise SecretsError(f"vault backend cannot start: {self._describe(exc)}") from exc
        self._task = asyncio.create_task(self._run(), name=f"vault-secrets-{self.provider}")

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

    def client_keys(self) -> dict[str, ClientKeyRecord]:
        """Return the cached client registry."""
        return self._clients

    def status(self) -> BackendStatus:
        """Report ok while a key is cached; degraded with the reason when Vault misbehaves."""
        reason = self._token_error or self._refresh_error
        if self._key is None:
            reason = reason or f"no provider key at {self.mount}/{self.key_path}"
        finite = self._login_lease and not math.isinf(self._token_expires_at)
        remaining = max(0.0, self._token_expires_at - time.monotonic()) if finite else None
        return BackendStatus(
            backend=self.name,
            ok=self._key is not None,
            degraded=reason is not None,
            reason=reason,
            key_version=self._key_version,
            last_refresh=self._last_refresh,
            details={
                "vault_addr": self.addr,
                "token_ttl_s": None if remaining is None else round(remaining, 1),
                "token_renewals": self._renewals,
                "logins": self._logins,
                "client_keys": len(self._clients),
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

    def _secret_id(self) -> tuple[str, str]:
        """Return (secret_id, digest of the file content), unwrapping a wrapping token once."""
        content = _read(self.secret_id_file)
        digest = hashlib.sha256(content.encode()).hexdigest()
        if digest == self._used_secret:
            raise SecretsError(f"secret_id in {self.secret_id_file} was used already; awaiting a fresh one")
        if _UUID.match(content):
            return content, digest
        if self._pending_secret_id is None:
            wrapper = hvac.Client(url=self.addr, token=content, verify=self._verify, timeout=self._timeout)
            try:
                self._pending_secret_id = str(wrapper.sys.unwrap()["data"]["secret_id"])
            except _AUTH_REFUSED as exc:
                self._used_secret = digest
                raise SecretsError(f"wrapped secret_id in {self.secret_id_file} is invalid or was unwrapped "
                                   "already") from exc
        return str(self._pending_secret_id), digest

    def _login_sync(self) -> None:
        role_id = _read(self.role_id_file)
        secret_id, digest = self._secret_id()
        try:
            answer = self._client.auth.approle.login(role_id=role_id, secret_id=secret_id)
        except _AUTH_REFUSED as exc:
            self._used_secret, self._pending_secret_id = digest, None
            raise SecretsError(f"AppRole login refused with the secret_id in {self.secret_id_file}") from exc
        self._used_secret, self._pending_secret_id = digest, None
        self._login_lease = int(answer["auth"]["lease_duration"])
        self._logins += 1
        self._relogin_wanted = False
        self._schedule_token(self._login_lease)
        log.info("vault: logged in as AppRole for %s (token ttl %ss)", self.provider, self._login_lease)

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
                path="llm/clients", mount_point=self.mount, raise_on_deleted_version=True
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

    async def _run(self) -> None:
        next_refresh = time.monotonic() + self.refresh_s
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
        except _AUTH_REFUSED as exc:
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
        retry_at = now + min(self.refresh_s, 5.0)
        if self._relogin_wanted or not alive:
            try:
                await self._call(self._login_sync)
                self._token_error = None
                return True
            except _FAILURES as exc:
                self._failures["login"] += 1
                self._token_error = f"re-login failed: {self._describe(exc)}"
                log.warning("vault: %s", self._token_error)
                if not alive:
                    self._next_token_action = retry_at
                    return False
        try:
            await self._call(self._renew_sync)
            if not self._relogin_wanted:
                self._token_error = None
        except _AUTH_REFUSED as exc:
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
