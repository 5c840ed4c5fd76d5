"""A local OAuth2 issuer for the dev stack: an ES256 key pair whose public half the gateways trust.

It stands in for an identity provider so bearer JWTs can be tried end to end; tokens are
minted with the private key (`mint`), which stays in the state directory (0600).
"""

from __future__ import annotations

import time
import uuid
from pathlib import Path

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

ISSUER = "https://issuer.devstack.local"
AUDIENCE = "llm-gateway"


def create(jwt_dir: Path) -> dict[str, Path]:
    """Write private.pem (0600) and public.pem; return their paths."""
    jwt_dir.mkdir(parents=True, exist_ok=True)
    key = ec.generate_private_key(ec.SECP256R1())
    private = jwt_dir / "private.pem"
    private.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                          serialization.NoEncryption()))
    private.chmod(0o600)
    public = jwt_dir / "public.pem"
    public.write_bytes(key.public_key().public_bytes(serialization.Encoding.PEM,
                                                     serialization.PublicFormat.SubjectPublicKeyInfo))
    return {"private": private, "public": public}


def gateway_env(paths: dict[str, Path]) -> dict[str, str]:
    """The GATEWAY_JWT_* settings that make a gateway accept this issuer's tokens."""
    return {"GATEWAY_JWT_PUBLIC_KEY_FILE": str(paths["public"]), "GATEWAY_JWT_ISSUER": ISSUER,
            "GATEWAY_JWT_AUDIENCE": AUDIENCE}


def mint(private_key_file: Path, subject: str, scopes: list[str], ttl_s: int = 600, **claims: object) -> str:
    """Sign a token for `subject` with `scopes` (space-separated `scope` claim)."""
    now = int(time.time())
    body = {"iss": ISSUER, "aud": AUDIENCE, "sub": subject, "iat": now, "nbf": now, "exp": now + ttl_s,
            "jti": uuid.uuid4().hex, "scope": " ".join(scopes), **claims}
    return jwt.encode(body, private_key_file.read_bytes(), algorithm="ES256")
