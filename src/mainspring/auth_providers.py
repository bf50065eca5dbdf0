"""Verifying JWTs into identities: OpenID Connect, custom JWT (JWKS) and a shared secret.

An app declares its providers in ``backend/auth.py``::

    from mainspring.auth_providers import AuthConfig, OIDCProvider, SharedSecretProvider

    auth = AuthConfig(
        OIDCProvider("https://accounts.example.com", audience="my-app"),
        SharedSecretProvider(secret="dev-only-secret", issuer="dev"),
    )

A token is matched to a provider by its ``iss`` claim; the provider fixes which algorithms it
accepts (``none`` never, HMAC only for a shared secret), so a public key can never be used as
an HMAC secret. Expiry is checked against the deployment's clock.
"""

from __future__ import annotations

import asyncio
import json
import math
from collections.abc import Mapping, Sequence
from typing import Any

import httpx
import jwt
from jwt.exceptions import InvalidTokenError, PyJWKError

from .auth import UserIdentity
from .clock import Clock
from .errors import AuthenticationError, ConfigurationError

__all__ = [
    "AuthConfig",
    "AuthenticationError",
    "CustomJWTProvider",
    "OIDCProvider",
    "SharedSecretProvider",
]

_ASYMMETRIC = ("RS256", "RS384", "RS512", "ES256", "ES384", "PS256")
_JWKS_MIN_REFRESH_MS = 1_000.0
LEEWAY_S = 5.0


def _norm(issuer: str) -> str:
    return issuer.rstrip("/")


class _Provider:
    issuer: str
    audience: str | Sequence[str] | None
    algorithms: tuple[str, ...]

    async def key_for(self, header: Mapping[str, Any], clock: Clock) -> Any:
        raise NotImplementedError


class SharedSecretProvider(_Provider):
    """HS256 tokens signed with a shared secret — for development and trusted services."""

    def __init__(self, secret: str, *, issuer: str, audience: str | None = None) -> None:
        if len(secret.encode()) < 32:  # RFC 7518 §3.2: at least the hash's size for HS256
            raise ConfigurationError("SharedSecretProvider: the secret must be ≥ 32 bytes")
        self.secret, self.issuer, self.audience = secret, issuer, audience
        self.algorithms = ("HS256",)

    async def key_for(self, header: Mapping[str, Any], clock: Clock) -> Any:
        return self.secret


class CustomJWTProvider(_Provider):
    """Tokens signed with asymmetric keys from a JWKS URL or given inline (``jwks``)."""

    def __init__(
        self,
        *,
        issuer: str,
        jwks_url: str | None = None,
        jwks: Mapping[str, Any] | None = None,
        audience: str | Sequence[str] | None = None,
        algorithms: Sequence[str] = ("RS256", "ES256"),
        http: httpx.AsyncClient | None = None,
    ) -> None:
        if (jwks_url is None) == (jwks is None):
            raise ConfigurationError(f"{issuer}: give exactly one of jwks_url and jwks")
        bad = [a for a in algorithms if a not in _ASYMMETRIC]
        if bad:
            raise ConfigurationError(f"{issuer}: algorithms {bad} are not asymmetric signatures")
        self.issuer, self.audience, self.algorithms = issuer, audience, tuple(algorithms)
        self.jwks_url = jwks_url
        self._http = http
        self._keys: dict[str | None, Any] = {}
        self._fetched_at = -math.inf
        self._lock = asyncio.Lock()
        if jwks is not None:
            self._keys = _parse_jwks(jwks, issuer)

    async def _jwks_url(self) -> str:
        assert self.jwks_url is not None
        return self.jwks_url

    async def _get_json(self, url: str) -> Any:
        client = self._http or httpx.AsyncClient(timeout=10.0)
        try:
            response = await client.get(url)
            response.raise_for_status()
            return response.json()
        except (httpx.HTTPError, json.JSONDecodeError) as exc:
            raise AuthenticationError(
                f"cannot fetch {url} for issuer {self.issuer}: {exc}"
            ) from exc
        finally:
            if self._http is None:
                await client.aclose()

    async def key_for(self, header: Mapping[str, Any], clock: Clock) -> Any:
        kid = header.get("kid")
        if kid in self._keys or (kid is None and len(self._keys) == 1):
            return self._keys.get(kid) or next(iter(self._keys.values()))
        if self.jwks_url is None and not isinstance(self, OIDCProvider):
            raise AuthenticationError(f"no key {kid!r} for issuer {self.issuer}")
        async with self._lock:
            # A new key id usually means the issuer rotated keys: refetch, but not in a loop.
            if kid not in self._keys and clock.now_ms() - self._fetched_at >= _JWKS_MIN_REFRESH_MS:
                self._fetched_at = clock.now_ms()
                self._keys = _parse_jwks(await self._get_json(await self._jwks_url()), self.issuer)
        if kid in self._keys:
            return self._keys[kid]
        if kid is None and len(self._keys) == 1:
            return next(iter(self._keys.values()))
        raise AuthenticationError(f"no key {kid!r} in the JWKS of {self.issuer}")


class OIDCProvider(CustomJWTProvider):
    """An OpenID Connect issuer: keys found through its discovery document."""

    def __init__(
        self,
        issuer: str,
        *,
        audience: str | Sequence[str] | None = None,
        algorithms: Sequence[str] = ("RS256", "ES256"),
        http: httpx.AsyncClient | None = None,
    ) -> None:
        super().__init__(
            issuer=issuer, jwks_url="", audience=audience, algorithms=algorithms, http=http
        )
        self.jwks_url = None

    async def _jwks_url(self) -> str:
        if self.jwks_url is None:
            url = _norm(self.issuer) + "/.well-known/openid-configuration"
            document = await self._get_json(url)
            if not isinstance(document, dict) or _norm(str(document.get("issuer"))) != _norm(
                self.issuer
            ):
                raise AuthenticationError(f"{url} names a different issuer")
            if not isinstance(document.get("jwks_uri"), str):
                raise AuthenticationError(f"{url} has no jwks_uri")
            self.jwks_url = document["jwks_uri"]
        return self.jwks_url


def _parse_jwks(document: Any, issuer: str) -> dict[str | None, Any]:
    keys = document.get("keys") if isinstance(document, Mapping) else None
    if not isinstance(keys, list):
        raise AuthenticationError(f"the JWKS of {issuer} has no 'keys' list")
    parsed: dict[str | None, Any] = {}
    for entry in keys:
        if not isinstance(entry, Mapping) or entry.get("use", "sig") != "sig":
            continue
        if entry.get("kty") == "oct":
            continue  # a symmetric key in a public JWKS would allow forgery
        try:
            parsed[entry.get("kid")] = jwt.PyJWK(dict(entry)).key
        except PyJWKError:
            continue
    return parsed


class AuthConfig:
    """The auth providers of an app; ``verify`` turns a token into an identity."""

    def __init__(self, *providers: _Provider) -> None:
        self.providers = {_norm(p.issuer): p for p in providers}
        if len(self.providers) != len(providers):
            raise ConfigurationError("two auth providers share one issuer")

    async def verify(self, token: str, clock: Clock) -> UserIdentity:
        """The identity in ``token``; raises AuthenticationError for any invalid token."""
        try:
            header = jwt.get_unverified_header(token)
            unverified = jwt.decode(token, options={"verify_signature": False})
        except InvalidTokenError as exc:
            raise AuthenticationError(f"malformed token: {exc}") from exc
        issuer = unverified.get("iss")
        provider = self.providers.get(_norm(issuer)) if isinstance(issuer, str) else None
        if provider is None:
            raise AuthenticationError(f"no auth provider is configured for issuer {issuer!r}")
        algorithm = header.get("alg")
        if algorithm not in provider.algorithms:
            raise AuthenticationError(
                f"algorithm {algorithm!r} is not accepted for {provider.issuer} "
                f"(accepted: {', '.join(provider.algorithms)})"
            )
        key = await provider.key_for(header, clock)
        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=[algorithm],
                audience=provider.audience,
                issuer=issuer,
                options={
                    "verify_exp": False,
                    "verify_nbf": False,
                    "verify_iat": False,
                    "verify_aud": provider.audience is not None,
                    "require": ["sub"],
                },
            )
        except InvalidTokenError as exc:
            raise AuthenticationError(f"invalid token: {exc}") from exc
        now = clock.now_ms() / 1000.0
        exp, nbf = claims.get("exp"), claims.get("nbf")
        if not isinstance(exp, (int, float)):
            raise AuthenticationError("invalid token: it has no expiry ('exp')")
        if now > exp + LEEWAY_S:
            raise AuthenticationError("invalid token: expired")
        if isinstance(nbf, (int, float)) and now + LEEWAY_S < nbf:
            raise AuthenticationError("invalid token: not valid yet ('nbf')")
        subject = str(claims.pop("sub"))
        claims.pop("iss", None)
        return UserIdentity(subject, str(issuer), claims)
