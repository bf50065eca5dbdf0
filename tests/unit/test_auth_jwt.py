"""The JWT matrix: every way a token can be wrong, against a real JWKS server on loopback."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

from mainspring.auth_providers import (
    AuthConfig,
    AuthenticationError,
    CustomJWTProvider,
    OIDCProvider,
    SharedSecretProvider,
)
from mainspring.clock import VirtualClock

NOW = 1_700_000_000.0


class IssuerServer:
    """An OIDC issuer: discovery document and a JWKS whose keys the test can rotate."""

    def __init__(self) -> None:
        self.keys: list[dict[str, Any]] = []
        self.fetches = 0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path == "/.well-known/openid-configuration":
                    body = {"issuer": outer.url, "jwks_uri": outer.url + "/jwks"}
                elif self.path == "/jwks":
                    outer.fetches += 1
                    body = {"keys": outer.keys}
                else:
                    self.send_error(404)
                    return
                data = json.dumps(body).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def publish(self, public_key: Any, kid: str) -> None:
        algorithm = RSAAlgorithm if isinstance(public_key, rsa.RSAPublicKey) else ECAlgorithm
        jwk = json.loads(algorithm.to_jwk(public_key))
        jwk.update(kid=kid, use="sig")
        self.keys.append(jwk)


@pytest.fixture
def issuer() -> Iterator[IssuerServer]:
    server = IssuerServer()
    yield server
    server.server.shutdown()
    server.server.server_close()


def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def token(key: Any, alg: str, kid: str | None, **claims: Any) -> str:
    payload = {"sub": "user-1", "exp": NOW + 3600, "iat": NOW, **claims}
    headers = {"kid": kid} if kid else None
    return jwt.encode(payload, key, algorithm=alg, headers=headers)


@pytest.fixture
def clock() -> VirtualClock:
    return VirtualClock(NOW * 1000)


async def test_oidc_valid_token_gives_identity(issuer: IssuerServer, clock: VirtualClock) -> None:
    key = rsa_key()
    issuer.publish(key.public_key(), "k1")
    config = AuthConfig(OIDCProvider(issuer.url, audience="app"))
    tok = token(key, "RS256", "k1", iss=issuer.url, aud="app", email="a@x.test", role="admin")
    identity = await config.verify(tok, clock)
    assert identity.subject == "user-1"
    assert identity.token_identifier == f"{issuer.url}|user-1"
    assert identity.email == "a@x.test" and identity.claims["role"] == "admin"


@pytest.mark.parametrize(
    ("claims", "message"),
    [
        ({"exp": NOW - 60}, "expired"),
        ({"nbf": NOW + 600}, "not valid yet"),
        ({"aud": "someone-else"}, "Audience doesn't match"),
        ({"iss": "https://evil.test"}, "no auth provider is configured"),
        ({"exp": None}, "no expiry"),
    ],
)
async def test_invalid_claims_are_refused(
    issuer: IssuerServer, clock: VirtualClock, claims: dict[str, Any], message: str
) -> None:
    key = rsa_key()
    issuer.publish(key.public_key(), "k1")
    config = AuthConfig(OIDCProvider(issuer.url, audience="app"))
    base = {"iss": issuer.url, "aud": "app", **claims}
    payload = {k: v for k, v in base.items() if v is not None}
    if claims.get("exp", 0) is None:
        tok = jwt.encode({"sub": "u", **payload}, key, algorithm="RS256", headers={"kid": "k1"})
    else:
        tok = token(key, "RS256", "k1", **payload)
    with pytest.raises(AuthenticationError, match=message):
        await config.verify(tok, clock)


async def test_expiry_follows_the_deployment_clock(
    issuer: IssuerServer, clock: VirtualClock
) -> None:
    key = rsa_key()
    issuer.publish(key.public_key(), "k1")
    config = AuthConfig(OIDCProvider(issuer.url))
    tok = token(key, "RS256", "k1", iss=issuer.url)
    await config.verify(tok, clock)
    clock.advance(3_700_000)
    with pytest.raises(AuthenticationError, match="expired"):
        await config.verify(tok, clock)


async def test_bad_signature(issuer: IssuerServer, clock: VirtualClock) -> None:
    issuer.publish(rsa_key().public_key(), "k1")
    config = AuthConfig(OIDCProvider(issuer.url))
    forged = token(rsa_key(), "RS256", "k1", iss=issuer.url)
    with pytest.raises(AuthenticationError, match="Signature verification failed"):
        await config.verify(forged, clock)


async def test_alg_none_is_refused(issuer: IssuerServer, clock: VirtualClock) -> None:
    issuer.publish(rsa_key().public_key(), "k1")
    config = AuthConfig(OIDCProvider(issuer.url))
    unsigned = jwt.encode({"sub": "u", "iss": issuer.url, "exp": NOW + 60}, None, algorithm="none")
    with pytest.raises(AuthenticationError, match="algorithm 'none' is not accepted"):
        await config.verify(unsigned, clock)


async def test_hs_rs_confusion_is_refused(issuer: IssuerServer, clock: VirtualClock) -> None:
    # The classic attack: sign HS256 with the issuer's *public* key as the HMAC secret.
    key = rsa_key()
    issuer.publish(key.public_key(), "k1")
    config = AuthConfig(OIDCProvider(issuer.url))
    pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    import base64
    import hashlib
    import hmac

    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    header = b64(json.dumps({"alg": "HS256", "typ": "JWT", "kid": "k1"}).encode())
    body = b64(json.dumps({"sub": "u", "iss": issuer.url, "exp": NOW + 60}).encode())
    signature = b64(hmac.new(pem, f"{header}.{body}".encode(), hashlib.sha256).digest())
    with pytest.raises(AuthenticationError, match="algorithm 'HS256' is not accepted"):
        await config.verify(f"{header}.{body}.{signature}", clock)


async def test_key_rotation_refetches_jwks_once(issuer: IssuerServer, clock: VirtualClock) -> None:
    old, new = rsa_key(), ec.generate_private_key(ec.SECP256R1())
    issuer.publish(old.public_key(), "old")
    config = AuthConfig(OIDCProvider(issuer.url))
    await config.verify(token(old, "RS256", "old", iss=issuer.url), clock)
    await config.verify(token(old, "RS256", "old", iss=issuer.url), clock)
    assert issuer.fetches == 1  # cached
    issuer.publish(new.public_key(), "new")
    clock.advance(2_000)
    identity = await config.verify(token(new, "ES256", "new", iss=issuer.url), clock)
    assert identity.subject == "user-1"
    assert issuer.fetches == 2
    with pytest.raises(AuthenticationError, match="no key 'unknown'"):
        await config.verify(token(new, "ES256", "unknown", iss=issuer.url), clock)
    assert issuer.fetches == 2  # an unknown kid right after a fetch does not refetch


async def test_custom_jwt_with_inline_keys(clock: VirtualClock) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    jwk = json.loads(ECAlgorithm.to_jwk(key.public_key()))
    jwk["kid"] = "e1"
    config = AuthConfig(CustomJWTProvider(issuer="https://custom.test", jwks={"keys": [jwk]}))
    identity = await config.verify(token(key, "ES256", "e1", iss="https://custom.test"), clock)
    assert identity.issuer == "https://custom.test"


async def test_shared_secret_provider(clock: VirtualClock) -> None:
    config = AuthConfig(SharedSecretProvider("s" * 32, issuer="dev", audience="app"))
    tok = token("s" * 32, "HS256", None, iss="dev", aud="app")
    assert (await config.verify(tok, clock)).subject == "user-1"
    with pytest.raises(AuthenticationError, match="Signature verification failed"):
        await config.verify(token("x" * 32, "HS256", None, iss="dev", aud="app"), clock)


async def test_garbage_token(clock: VirtualClock) -> None:
    config = AuthConfig(SharedSecretProvider("s" * 32, issuer="dev"))
    with pytest.raises(AuthenticationError, match="malformed token"):
        await config.verify("not.a.jwt", clock)
