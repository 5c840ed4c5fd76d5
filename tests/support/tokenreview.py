"""A wire-level stand-in for the Kubernetes TokenReview API (authentication.k8s.io/v1), over HTTPS.

Vault's Kubernetes auth sends `POST /apis/authentication.k8s.io/v1/tokenreviews` to `kubernetes_host`
with a bearer token allowed to review, and trusts the answer's `status.user`. This server does what
the API server does for service-account tokens: it signs tokens it issues (RS256, like kube's
service-account issuer), and a review is `authenticated` only for a token with its signature that
has not expired. Everything else about Kubernetes is absent. TLS uses a trustme CA; every review
received is recorded so a test can show Vault really asked.
"""

from __future__ import annotations

import json
import ssl
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler

import jwt
import trustme
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.support.fake_http import FakeHTTPServer

ISSUER = "https://kubernetes.default.svc.cluster.local"
REVIEW_PATH = "/apis/authentication.k8s.io/v1/tokenreviews"


@dataclass
class Review:
    """One TokenReview request as received."""

    bearer: str
    token: str
    audiences: list[str]
    authenticated: bool


@dataclass
class TokenReviewServer:
    """HTTPS TokenReview endpoint on a free loopback port; `issue()` mints service-account tokens."""

    ca: trustme.CA = field(default_factory=trustme.CA)
    reviews: list[Review] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self._public = self._key.public_key()
        self._uids: dict[tuple[str, str], str] = {}
        self._server: FakeHTTPServer | None = None

    @property
    def url(self) -> str:
        """Return the API server URL (what `kubernetes_host` is set to)."""
        assert self._server is not None
        return f"https://127.0.0.1:{self._server.server_address[1]}"

    @property
    def ca_pem(self) -> str:
        """Return the CA certificate Vault must trust (`kubernetes_ca_cert`)."""
        return self.ca.cert_pem.bytes().decode()

    def issue(self, namespace: str, name: str, ttl_s: int = 600, audience: str = ISSUER) -> str:
        """Return a signed service-account token (projected-token claims) for namespace/name."""
        uid = self._uids.setdefault((namespace, name), str(uuid.uuid4()))
        now = int(time.time())
        claims = {
            "iss": ISSUER, "sub": f"system:serviceaccount:{namespace}:{name}", "aud": [audience],
            "iat": now, "nbf": now, "exp": now + ttl_s,
            "kubernetes.io": {"namespace": namespace, "serviceaccount": {"name": name, "uid": uid}},
        }
        pem = self._key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption())
        return jwt.encode(claims, pem, algorithm="RS256", headers={"kid": "stand-in"})

    def review(self, token: str) -> dict | None:
        """Return the user of a token this server signed and that is still valid, else None."""
        try:
            claims = jwt.decode(token, self._public, algorithms=["RS256"], options={"verify_aud": False},
                                issuer=ISSUER)
        except jwt.PyJWTError:
            return None
        account = claims["kubernetes.io"]
        return {
            "username": claims["sub"], "uid": account["serviceaccount"]["uid"],
            "groups": ["system:serviceaccounts", f"system:serviceaccounts:{account['namespace']}",
                       "system:authenticated"],
            "audiences": claims["aud"],
        }

    def start(self) -> TokenReviewServer:
        """Serve on a free loopback port in a daemon thread."""
        self._server = FakeHTTPServer(("127.0.0.1", 0), _handler(self))
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.ca.issue_cert("127.0.0.1", "localhost").configure_cert(context)
        self._server.socket = context.wrap_socket(self._server.socket, server_side=True)
        threading.Thread(target=self._server.serve_forever, name="tokenreview", daemon=True).start()
        return self

    def stop(self) -> None:
        """Stop serving."""
        if self._server is not None:
            self._server.stop()
            self._server = None


def _handler(api: TokenReviewServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            return None

        def _send(self, status: int, body: dict) -> None:
            raw = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)

        def do_POST(self) -> None:
            bearer = self.headers.get("Authorization", "").removeprefix("Bearer ").strip()
            if self.path != REVIEW_PATH:
                self._send(404, {"kind": "Status", "status": "Failure", "reason": "NotFound", "code": 404})
                return
            if api.review(bearer) is None:  # the reviewer itself must hold a valid token
                self._send(401, {"kind": "Status", "status": "Failure", "reason": "Unauthorized", "code": 401})
                return
            request = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"{}")
            # Like the API server: type fields may be omitted (the URL names the type), never contradict it.
            if request.get("kind", "TokenReview") != "TokenReview" or \
                    request.get("apiVersion", "authentication.k8s.io/v1") != "authentication.k8s.io/v1":
                self._send(400, {"kind": "Status", "status": "Failure", "reason": "BadRequest", "code": 400})
                return
            spec = request.get("spec") or {}
            user = api.review(str(spec.get("token") or ""))
            wanted = list(spec.get("audiences") or [])
            if user is not None and wanted and not set(wanted) & set(user["audiences"]):
                user = None  # like the API server: the token must be valid for one requested audience
            api.reviews.append(Review(bearer, str(spec.get("token") or ""), list(spec.get("audiences") or []),
                                      user is not None))
            status: dict = {"authenticated": user is not None}
            if user is not None:
                status.update(user={k: v for k, v in user.items() if k != "audiences"}, audiences=user["audiences"])
            else:
                status["error"] = "invalid bearer token"
            self._send(201, {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview",
                             "metadata": {"creationTimestamp": None}, "spec": spec, "status": status})

    return Handler
