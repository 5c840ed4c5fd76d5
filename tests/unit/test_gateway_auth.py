"""Client credentials: API key format and hashing, JWT verification, and the Authenticator matrix."""

from __future__ import annotations

import base64
import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import get_default_algorithms

from gateway.auth import keys
from gateway.auth.authenticator import Authenticator, credential_headers, extract_credential
from gateway.auth.jwt import JwtError, JwtVerifier
from gateway.errors import AuthenticationError, PermissionDeniedError
from gateway.secrets.base import BackendStatus, ClientKeyRecord, SecretsBackend

ISS, AUD = "https://idp.test/", "llm-gateway"


# -- API keys ----------------------------------------------------------------------------------------
def test_generate_parse_hash_roundtrip() -> None:
    full, key_id, digest = keys.generate()
    assert full.startswith(f"lgw_{key_id}_") and len(key_id) == 12 and key_id == key_id.lower()
    parsed = keys.parse(full)
    assert parsed is not None and parsed.key_id == key_id
    assert keys.hash_secret(parsed.secret) == digest and len(digest) == 64
    assert keys.matches(parsed.secret, digest)
    assert not keys.matches(parsed.secret + "x", digest)
    assert keys.generate()[0] != full


@pytest.mark.parametrize("raw", [
    "", "lgw", "lgw_", "sk-abc", "xyz_abcdefghijkl_" + "s" * 32, "lgw_short_" + "s" * 32,
    "lgw_abcdefghijkl_" + "s" * 15, "lgw_abcdefghijkl_" + "s" * 129, "lgw_abcdefghijkl",
])
def test_parse_rejects_foreign_formats(raw: str) -> None:
    assert keys.parse(raw) is None


def test_secret_may_contain_underscores() -> None:
    parsed = keys.parse("lgw_abcdefghijkl_a_b_c_" + "d" * 20)
    assert parsed is not None and parsed.secret == "a_b_c_" + "d" * 20


# -- JWT -----------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def ec_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def pem(private: Any) -> bytes:
    spki = serialization.PublicFormat.SubjectPublicKeyInfo
    return private.public_key().public_bytes(serialization.Encoding.PEM, spki)


def claims(**over: Any) -> dict[str, Any]:
    now = int(time.time())
    return {"iss": ISS, "aud": AUD, "sub": "svc-1", "exp": now + 300, "iat": now, "scope": "llm:openai", **over}


def pem_verifier(tmp_path: Path, private: Any) -> JwtVerifier:
    path = tmp_path / "pub.pem"
    path.write_bytes(pem(private))
    return JwtVerifier(issuer=ISS, audience=AUD, leeway_s=0, public_key_file=path)


def jwks_verifier(*entries: tuple[Any, str]) -> JwtVerifier:
    """A verifier whose key set comes from a JWKS document, loaded through refresh() over a mock transport."""
    doc = {"keys": [{**json.loads(get_default_algorithms()[alg].to_jwk(k.public_key())),
                     "kid": kid, "alg": alg} for k, kid, alg in
                    [(k, kid, "RS256" if isinstance(k, rsa.RSAPrivateKey) else "ES256") for k, kid in entries]]}
    doc["keys"].append({"kty": "oct", "k": "c2VjcmV0", "kid": "hmac"})  # skipped: not an allowed key type
    verifier = JwtVerifier(issuer=ISS, audience=AUD, leeway_s=0, jwks_url="https://idp.test/jwks")
    transport = httpx.MockTransport(lambda request: httpx.Response(200, json=doc))

    async def load() -> None:
        async with httpx.AsyncClient(transport=transport) as client:
            await verifier.refresh(client)

    import asyncio

    asyncio.run(load())
    return verifier


def test_pem_rs256_and_es256_verify(tmp_path: Path, rsa_key: Any, ec_key: Any) -> None:
    assert pem_verifier(tmp_path, rsa_key).verify(jwt.encode(claims(), rsa_key, "RS256"))["sub"] == "svc-1"
    assert pem_verifier(tmp_path, ec_key).verify(jwt.encode(claims(), ec_key, "ES256"))["sub"] == "svc-1"


def test_jwks_selects_the_key_by_kid(rsa_key: Any, ec_key: Any) -> None:
    verifier = jwks_verifier((rsa_key, "r1"), (ec_key, "e1"))
    assert verifier.key_count == 2  # the HMAC entry was skipped
    assert verifier.verify(jwt.encode(claims(), rsa_key, "RS256", headers={"kid": "r1"}))["sub"] == "svc-1"
    assert verifier.verify(jwt.encode(claims(), ec_key, "ES256", headers={"kid": "e1"}))["sub"] == "svc-1"
    with pytest.raises(JwtError, match="unknown signing key"):
        verifier.verify(jwt.encode(claims(), rsa_key, "RS256", headers={"kid": "r2"}))
    with pytest.raises(JwtError, match="unknown signing key"):
        verifier.verify(jwt.encode(claims(), rsa_key, "RS256"))  # no kid, and no default key
    with pytest.raises(JwtError, match="algorithm"):  # an ES256 header on the RSA kid
        verifier.verify(jwt.encode(claims(), ec_key, "ES256", headers={"kid": "r1"}))


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@pytest.mark.parametrize(("case", "message"), [
    ("expired", "expired"), ("not_before", "not yet valid"), ("audience", "audience"), ("issuer", "issuer"),
    ("missing_sub", "invalid"), ("missing_exp", "invalid"), ("alg_none", "algorithm"),
    ("hs256_with_public_pem", "algorithm"), ("tampered", "invalid"), ("garbage", "malformed"),
    ("other_key", "invalid"),
])
def test_bad_tokens_are_refused(tmp_path: Path, rsa_key: Any, case: str, message: str) -> None:
    verifier = pem_verifier(tmp_path, rsa_key)
    now = int(time.time())
    good = jwt.encode(claims(), rsa_key, "RS256")
    token = {
        "expired": lambda: jwt.encode(claims(exp=now - 10), rsa_key, "RS256"),
        "not_before": lambda: jwt.encode(claims(nbf=now + 600), rsa_key, "RS256"),
        "audience": lambda: jwt.encode(claims(aud="someone-else"), rsa_key, "RS256"),
        "issuer": lambda: jwt.encode(claims(iss="https://evil.test/"), rsa_key, "RS256"),
        "missing_sub": lambda: jwt.encode({k: v for k, v in claims().items() if k != "sub"}, rsa_key, "RS256"),
        "missing_exp": lambda: jwt.encode({k: v for k, v in claims().items() if k != "exp"}, rsa_key, "RS256"),
        "alg_none": lambda: _unsigned(claims()),
        "hs256_with_public_pem": lambda: _hs256(claims(), pem(rsa_key)),
        "tampered": lambda: good.rsplit(".", 1)[0] + "." + _b64(b"\x00" * 256),
        "garbage": lambda: "not.a.jwt",
        "other_key": lambda: jwt.encode(claims(), rsa.generate_private_key(65537, 2048), "RS256"),
    }[case]()
    with pytest.raises(JwtError, match=message):
        verifier.verify(token)


def _unsigned(payload: dict[str, Any]) -> str:
    return _b64(json.dumps({"alg": "none", "typ": "JWT"}).encode()) + "." + _b64(json.dumps(payload).encode()) + "."


def _hs256(payload: dict[str, Any], secret: bytes) -> str:
    """Forge an HS256 token keyed with the public PEM (PyJWT refuses to do it for us)."""
    import hashlib
    import hmac

    head = _b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    body = _b64(json.dumps(payload).encode())
    sig = hmac.new(secret, f"{head}.{body}".encode(), hashlib.sha256).digest()
    return f"{head}.{body}.{_b64(sig)}"


def test_scopes_accept_string_or_list(tmp_path: Path, rsa_key: Any) -> None:
    v = pem_verifier(tmp_path, rsa_key)
    assert v.scopes({"scope": "a llm:openai"}) == {"a", "llm:openai"}
    assert v.scopes({"scp": ["llm:cohere"]}) == {"llm:cohere"}
    assert v.scopes({}) == set()


# -- Authenticator -------------------------------------------------------------------------------------
class MemoryBackend(SecretsBackend):
    """An in-memory secrets backend (unit tests only)."""

    name = "memory"

    def __init__(self, records: dict[str, ClientKeyRecord]) -> None:
        self.records = records

    async def start(self) -> None:
        return None

    def provider_key(self) -> str | None:
        return "sk-provider"

    def client_keys(self) -> dict[str, ClientKeyRecord]:
        return self.records

    def status(self) -> BackendStatus:
        return BackendStatus(backend=self.name, ok=True)


def make_key(providers: set[str], **record: Any) -> tuple[str, ClientKeyRecord]:
    full, key_id, digest = keys.generate()
    return full, ClientKeyRecord(key_id=key_id, hash=digest, providers=frozenset(providers), **record)


@pytest.fixture
def matrix(tmp_path: Path, rsa_key: Any) -> dict[str, Any]:
    now = datetime.now(UTC)
    made = {
        "ok": make_key({"openai"}, name="team-a"),
        "multi": make_key({"openai", "cohere"}),
        "other": make_key({"anthropic"}),
        "disabled": make_key({"openai"}, disabled=True),
        "expired": make_key({"openai"}, expires_at=now - timedelta(seconds=1)),
        "future": make_key({"openai"}, not_before=now + timedelta(hours=1)),
    }
    backend = MemoryBackend({rec.key_id: rec for _, rec in made.values()})
    return {
        "keys": {name: full for name, (full, _) in made.items()},
        "auth": Authenticator("openai", backend, pem_verifier(tmp_path, rsa_key)),
        "no_jwt": Authenticator("openai", backend),
    }


@pytest.mark.parametrize(("name", "outcome"), [
    ("ok", "team-a"), ("multi", None), ("other", 403), ("disabled", "key_disabled"), ("expired", "key_expired"),
    ("future", "key_not_yet_valid"),
])
def test_api_key_matrix(matrix: dict[str, Any], name: str, outcome: str | int | None) -> None:
    full = matrix["keys"][name]
    auth: Authenticator = matrix["auth"]
    if outcome == 403:
        with pytest.raises(PermissionDeniedError):
            auth.authenticate(f"Bearer {full}", None)
    elif outcome in (None, "team-a"):
        parsed = keys.parse(full)
        assert parsed is not None
        for header in ((f"Bearer {full}", None), (None, full), (f"bearer   {full} ", None)):
            principal = auth.authenticate(*header)
            assert principal.method == "api_key"
            assert principal.client_id == (outcome or parsed.key_id)
    else:
        with pytest.raises(AuthenticationError) as info:
            auth.authenticate(None, full)
        assert info.value.code == outcome and info.value.status == 401


def test_wrong_secret_and_unknown_key_are_401(matrix: dict[str, Any]) -> None:
    full = matrix["keys"]["ok"]
    parsed = keys.parse(full)
    assert parsed is not None
    for bad in (full[:-1] + ("A" if full[-1] != "A" else "B"), f"lgw_zzzzzzzzzzzz_{parsed.secret}", "sk-not-ours"):
        with pytest.raises(AuthenticationError) as info:
            matrix["auth"].authenticate(f"Bearer {bad}", None)
        assert info.value.code == "invalid_api_key"


@pytest.mark.parametrize(("authorization", "x_api_key", "code"), [
    (None, None, "missing_credentials"), ("", "  ", "missing_credentials"), ("Basic abc", None,
                                                                            "malformed_credentials"),
    ("Bearer ", None, "malformed_credentials"), ("Bearer", None, "malformed_credentials"),
])
def test_missing_or_malformed_header(authorization: str | None, x_api_key: str | None, code: str) -> None:
    with pytest.raises(AuthenticationError) as info:
        extract_credential(authorization, x_api_key)
    assert info.value.code == code


def test_authorization_header_wins_over_x_api_key() -> None:
    assert extract_credential("Bearer a", "b") == "a"


def test_credential_headers_are_read_from_the_raw_headers() -> None:
    raw = [(b"host", b"gw"), (b"x-api-key", b"k\xe9y"), (b"content-type", b"application/json"),
           (b"authorization", b"Bearer abc")]
    assert credential_headers(raw) == ("Bearer abc", "k\u00e9y")  # latin-1, as HTTP header bytes
    assert credential_headers([(b"host", b"gw")]) == (None, None)
    assert credential_headers([(b"authorization", b"")]) == ("", None)  # present but empty: extract_credential's 401


@pytest.mark.parametrize("name", [b"authorization", b"x-api-key"])
def test_a_credential_header_sent_twice_is_refused(name: bytes) -> None:
    with pytest.raises(AuthenticationError) as info:
        credential_headers([(name, b"Bearer one"), (b"host", b"gw"), (name, b"Bearer two")])
    assert info.value.code == "malformed_credentials" and "not several" in str(info.value)


def test_jwt_matrix(matrix: dict[str, Any], rsa_key: Any) -> None:
    auth: Authenticator = matrix["auth"]
    principal = auth.authenticate(f"Bearer {jwt.encode(claims(), rsa_key, 'RS256')}", None)
    assert (principal.client_id, principal.method) == ("svc-1", "jwt")
    with pytest.raises(PermissionDeniedError) as info:
        auth.authenticate(f"Bearer {jwt.encode(claims(scope='llm:cohere'), rsa_key, 'RS256')}", None)
    assert info.value.status == 403 and info.value.code == "insufficient_scope"
    with pytest.raises(AuthenticationError) as expired:
        auth.authenticate(f"Bearer {jwt.encode(claims(exp=1), rsa_key, 'RS256')}", None)
    assert expired.value.code == "invalid_token"
    with pytest.raises(AuthenticationError) as disabled:
        matrix["no_jwt"].authenticate(f"Bearer {jwt.encode(claims(), rsa_key, 'RS256')}", None)
    assert disabled.value.code == "jwt_disabled"
