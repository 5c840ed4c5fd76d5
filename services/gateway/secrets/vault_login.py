"""How the `vault` backend logs in: AppRole (compose, one host) or Kubernetes (service-account token).

Both return hvac's login answer (the token is set on the client); the backend owns renewal, re-login
timing, refresh and status. A refused login raises `SecretsError` naming the file it used, never its content.
"""

from __future__ import annotations

import hashlib
import re
from abc import ABC, abstractmethod
from collections.abc import Callable
from pathlib import Path

import hvac
from hvac import exceptions as hvac_errors

from gateway.secrets.base import SecretsError

_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
AUTH_REFUSED = (hvac_errors.Forbidden, hvac_errors.Unauthorized, hvac_errors.InvalidRequest)
K8S_TOKEN_FILE = Path("/var/run/secrets/kubernetes.io/serviceaccount/token")


def read_file(path: Path) -> str:
    """Return a credential file's stripped content; SecretsError when unreadable."""
    try:
        return path.read_text().strip()
    except OSError as exc:
        raise SecretsError(f"cannot read {path}: {exc.strerror or type(exc).__name__}") from exc


class VaultLogin(ABC):
    """One Vault auth method: logs the given client in."""

    method: str = "abstract"

    @abstractmethod
    def login(self, client: hvac.Client) -> dict:
        """Log client in; return Vault's answer (with `auth.lease_duration`)."""


class AppRoleLogin(VaultLogin):
    """role_id + single-use secret_id files; a secret_id that is not a UUID is a wrapping token."""

    method = "approle"

    def __init__(self, role_id_file: Path, secret_id_file: Path, unwrap_client: Callable[[str], hvac.Client]) -> None:
        self.role_id_file, self.secret_id_file = Path(role_id_file), Path(secret_id_file)
        self._unwrap_client = unwrap_client
        self._used_secret: str | None = None  # sha256 of the secret_id file content already consumed
        self._pending_secret_id: str | None = None  # unwrapped but not yet used for a login

    def _secret_id(self) -> tuple[str, str]:
        """Return (secret_id, digest of the file content), unwrapping a wrapping token once."""
        content = read_file(self.secret_id_file)
        digest = hashlib.sha256(content.encode()).hexdigest()
        if digest == self._used_secret:
            raise SecretsError(f"secret_id in {self.secret_id_file} was used already; awaiting a fresh one")
        if _UUID.match(content):
            return content, digest
        if self._pending_secret_id is None:
            try:
                self._pending_secret_id = str(self._unwrap_client(content).sys.unwrap()["data"]["secret_id"])
            except AUTH_REFUSED as exc:
                self._used_secret = digest
                raise SecretsError(f"wrapped secret_id in {self.secret_id_file} is invalid or was unwrapped "
                                   "already") from exc
        return str(self._pending_secret_id), digest

    def login(self, client: hvac.Client) -> dict:
        """Log in with the role_id and the secret_id file's current content."""
        role_id = read_file(self.role_id_file)
        secret_id, digest = self._secret_id()
        try:
            answer = client.auth.approle.login(role_id=role_id, secret_id=secret_id)
        except AUTH_REFUSED as exc:
            self._used_secret, self._pending_secret_id = digest, None
            raise SecretsError(f"AppRole login refused with the secret_id in {self.secret_id_file}") from exc
        self._used_secret, self._pending_secret_id = digest, None
        return answer


class KubernetesLogin(VaultLogin):
    """The pod's service-account token against `auth/<mount>/login` with a role bound to that account.

    The token file is read at every login: kubelet rotates projected tokens in place.
    """

    method = "kubernetes"

    def __init__(self, role: str, token_file: Path = K8S_TOKEN_FILE, mount: str = "kubernetes") -> None:
        self.role, self.token_file, self.mount = role, Path(token_file), mount.strip("/")

    def login(self, client: hvac.Client) -> dict:
        """Log in as the Vault role with the current service-account token."""
        jwt = read_file(self.token_file)
        if not jwt:
            raise SecretsError(f"service-account token file {self.token_file} is empty")
        try:
            return client.auth.kubernetes.login(role=self.role, jwt=jwt, mount_point=self.mount)
        except AUTH_REFUSED as exc:
            raise SecretsError(f"Kubernetes login refused for role {self.role} with the token in "
                               f"{self.token_file}") from exc
