"""OAuth2 bearer JWTs: RS256/ES256 only, keys from a JWKS URL or a static PEM file.

Algorithm confusion is closed by construction: each key is used only with the one
algorithm its type allows (RSA → RS256, EC P-256 → ES256), so `alg: none`, HS256
signed with the public key, or an RS/ES swap never verify. An unknown `kid` is refused and asks for
an early JWKS refresh (the issuer may have rotated), so the next token with that kid verifies.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from pathlib import Path
from typing import Any

import httpx
import jwt
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import load_pem_public_key

log = logging.getLogger("gateway.auth")

_ALG_FOR_KEY = ((rsa.RSAPublicKey, "RS256"), (ec.EllipticCurvePublicKey, "ES256"))
REFRESH_MIN_S = 10.0  # between kid-triggered refreshes: random kids cannot make us hammer the issuer


# What a JWKS refresh raises when the issuer is unreachable or answers something that is not a JWKS.
REFRESH_ERRORS = (httpx.HTTPError, ValueError)


class JwtError(Exception):
    """The token is not acceptable; the message is safe to return to the client."""


def _alg_for(key: Any) -> str:
    for kind, alg in _ALG_FOR_KEY:
        if isinstance(key, kind):
            return alg
    raise ValueError(f"unsupported public key type {type(key).__name__}")


class JwtVerifier:
    """Verifies bearer JWTs against configured keys, issuer, audience and scope."""

    def __init__(self, *, issuer: str, audience: str, scope_claim: str = "scope",
                 leeway_s: int = 30, jwks_url: str | None = None, public_key_file: Path | None = None) -> None:
        self.issuer, self.audience, self.scope_claim, self.leeway = issuer, audience, scope_claim, leeway_s
        self.jwks_url = jwks_url
        self._keys: dict[str | None, tuple[Any, str]] = {}
        # Set when a token names a kid we do not hold (the issuer rotated its keys): the refresh loop
        # fetches the JWKS at once instead of at its next period, at most once per REFRESH_MIN_S.
        self.refresh_wanted = asyncio.Event()
        self._last_asked = -math.inf
        if public_key_file is not None:
            key = load_pem_public_key(public_key_file.read_bytes())
            self._keys[None] = (key, _alg_for(key))

    async def refresh(self, client: httpx.AsyncClient | None = None) -> None:
        """Fetch the JWKS (when configured) and replace the key set; raise one of REFRESH_ERRORS on failure."""
        if not self.jwks_url:
            return
        owned = client is None
        client = client or httpx.AsyncClient(timeout=5.0)
        try:
            resp = await client.get(self.jwks_url)
            resp.raise_for_status()
            doc = resp.json()  # a body that is not JSON raises ValueError
            if not isinstance(doc, dict) or not isinstance(doc.get("keys", []), list):
                raise ValueError("the JWKS is not a {\"keys\": [...]} document")
            keys: dict[str | None, tuple[Any, str]] = {}
            for jwk in doc.get("keys", []):
                if not isinstance(jwk, dict):
                    log.warning("skipping JWKS key", extra={"kid": None, "reason": "not a JSON object"})
                    continue
                try:
                    key = jwt.PyJWK(jwk).key
                    keys[jwk.get("kid")] = (key, _alg_for(key))
                except (jwt.PyJWKError, ValueError) as exc:
                    log.warning("skipping JWKS key", extra={"kid": jwk.get("kid"), "reason": str(exc)})
            self._keys = keys
        finally:
            if owned:
                await client.aclose()

    @property
    def key_count(self) -> int:
        """Number of verification keys loaded."""
        return len(self._keys)

    def verify(self, token: str) -> dict[str, Any]:
        """Return the claims of a valid token or raise JwtError."""
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise JwtError("malformed token") from None
        kid = header.get("kid")
        entry = self._keys.get(kid) or (self._keys.get(None) if kid is None or None in self._keys else None)
        if entry is None:
            if self.jwks_url and time.monotonic() - self._last_asked >= REFRESH_MIN_S:
                self._last_asked = time.monotonic()
                self.refresh_wanted.set()
            raise JwtError("unknown signing key")
        key, alg = entry
        if header.get("alg") != alg:
            raise JwtError("token algorithm not allowed")
        try:
            return jwt.decode(token, key=key, algorithms=[alg], audience=self.audience, issuer=self.issuer,
                              leeway=self.leeway, options={"require": ["exp", "iss", "aud", "sub"]})
        except jwt.ExpiredSignatureError:
            raise JwtError("token expired") from None
        except jwt.ImmatureSignatureError:
            raise JwtError("token not yet valid") from None
        except jwt.InvalidAudienceError:
            raise JwtError("token audience not accepted") from None
        except jwt.InvalidIssuerError:
            raise JwtError("token issuer not accepted") from None
        except jwt.PyJWTError:
            raise JwtError("invalid token") from None

    def scopes(self, claims: dict[str, Any]) -> set[str]:
        """Return the scopes granted by the token (space-separated string or list)."""
        raw = claims.get(self.scope_claim) or claims.get("scp") or ""
        return set(raw.split()) if isinstance(raw, str) else {str(s) for s in raw}
