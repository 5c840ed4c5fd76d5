"""Who is calling, and may they use this provider? API keys and JWTs, one entry point."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from gateway.auth import keys
from gateway.auth.jwt import JwtError, JwtVerifier
from gateway.errors import AuthenticationError, PermissionDeniedError
from gateway.limits.base import Limits
from gateway.secrets.base import SecretsBackend


@dataclass(frozen=True, slots=True)
class Principal:
    """An authenticated client."""

    client_id: str
    method: str  # "api_key" | "jwt"
    limits: Limits | None = None  # from the key record; counted per client name, shared by its keys


def credential_headers(raw: Iterable[tuple[bytes, bytes]]) -> tuple[str | None, str | None]:
    """The `Authorization` and `x-api-key` values among a request's raw ASGI headers, read in one pass.

    Either header sent twice is refused (401): the field is not a list, and a second value could make the
    edge's check and the route's read different credentials.
    """
    authorization: str | None = None
    x_api_key: str | None = None
    for name, value in raw:  # ASGI servers give header names in lowercase
        if name == b"authorization":
            if authorization is not None:
                raise AuthenticationError("send one Authorization header, not several", code="malformed_credentials")
            authorization = value.decode("latin-1")
        elif name == b"x-api-key":
            if x_api_key is not None:
                raise AuthenticationError("send one x-api-key header, not several", code="malformed_credentials")
            x_api_key = value.decode("latin-1")
    return authorization, x_api_key


def extract_credential(authorization: str | None, x_api_key: str | None) -> str:
    """Return the presented credential or raise 401 naming what is wrong."""
    if authorization:
        scheme, _, value = authorization.strip().partition(" ")
        if scheme.lower() != "bearer" or not value.strip():
            raise AuthenticationError("Authorization header must be 'Bearer <credential>'",
                                      code="malformed_credentials")
        return value.strip()
    if x_api_key and x_api_key.strip():
        return x_api_key.strip()
    raise AuthenticationError("missing credentials: send 'Authorization: Bearer <key>' or 'x-api-key'",
                              code="missing_credentials")


class Authenticator:
    """Checks client API keys (from the secrets backend) and bearer JWTs for one provider."""

    def __init__(self, provider: str, backend: SecretsBackend, jwt_verifier: JwtVerifier | None = None) -> None:
        self.provider = provider
        self.backend = backend
        self.jwt = jwt_verifier
        self.required_scope = f"llm:{provider}"

    def authenticate(self, authorization: str | None, x_api_key: str | None) -> Principal:
        """Return the principal or raise AuthenticationError (401) / PermissionDeniedError (403)."""
        credential = extract_credential(authorization, x_api_key)
        if credential.count(".") == 2 and not credential.startswith(keys.PREFIX + "_"):
            return self._jwt(credential)
        return self._api_key(credential)

    def _api_key(self, credential: str) -> Principal:
        parsed = keys.parse(credential)
        record = self.backend.client_keys().get(parsed.key_id) if parsed else None
        if parsed is None or record is None or not keys.matches(parsed.secret, record.hash):
            raise AuthenticationError("invalid API key")
        now = datetime.now(UTC)
        if record.disabled:
            raise AuthenticationError("API key is disabled", code="key_disabled")
        if record.expires_at is not None and record.expires_at <= now:
            raise AuthenticationError("API key has expired", code="key_expired")
        if record.not_before is not None and record.not_before > now:
            raise AuthenticationError("API key is not valid yet", code="key_not_yet_valid")
        if self.provider not in record.providers:
            raise PermissionDeniedError(f"API key is not allowed to use provider '{self.provider}'")
        return Principal(client_id=record.name or parsed.key_id, method="api_key", limits=record.limits)

    def _jwt(self, token: str) -> Principal:
        if self.jwt is None:
            raise AuthenticationError("JWT authentication is not enabled on this gateway", code="jwt_disabled")
        try:
            claims = self.jwt.verify(token)
        except JwtError as exc:
            raise AuthenticationError(str(exc), code="invalid_token") from None
        if self.required_scope not in self.jwt.scopes(claims):
            raise PermissionDeniedError(f"token lacks scope '{self.required_scope}'", code="insufficient_scope")
        return Principal(client_id=str(claims["sub"]), method="jwt")
