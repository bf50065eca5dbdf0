"""The ``Authorization`` header of an API call.

* ``Bearer <token>`` — a user's token (a JWT from the app's auth provider), verified by the
  app's :class:`~mainspring.auth_providers.AuthConfig` in :func:`authenticate`.
* ``Convex <admin key>`` — the deployment admin key (the CLI, the dashboard, scripts): allows
  internal functions. ``Convex <admin key>:<base64 JSON identity>`` is what the official
  client's ``setAdminAuth(key, actingAsIdentity)`` sends: an admin acting as that user.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..auth import UserIdentity
from ..errors import AuthenticationError
from .errors import ApiError

if TYPE_CHECKING:
    from ..runtime import Runtime

__all__ = ["ANONYMOUS", "Credentials", "authenticate", "parse_authorization"]

# What an acting-as identity gets when the JSON leaves these out (the Convex CLI's
# `--identity '{"name": "Ada"}'` usually does).
_ADMIN_ISSUER = "https://mainspring.invalid/admin"
_ADMIN_SUBJECT = "admin"


@dataclass(frozen=True, slots=True)
class Credentials:
    """Who a request says it is: a bearer token, or the admin (maybe acting as a user)."""

    token: str | None = None
    admin: bool = False
    acting_as: UserIdentity | None = None


ANONYMOUS = Credentials()


def _unauthorized(message: str) -> ApiError:
    return ApiError(401, "Unauthenticated", message)


def parse_authorization(header: str | None, admin_key: str | None) -> Credentials:
    """Credentials from an ``Authorization`` header; ApiError(401) for a wrong admin key."""
    if not header:
        return ANONYMOUS
    scheme, _, value = header.strip().partition(" ")
    value = value.strip()
    scheme = scheme.lower()
    if scheme == "bearer":
        if not value:
            raise _unauthorized("the Authorization header has an empty bearer token")
        return Credentials(token=value)
    if scheme == "convex":
        # Admin keys are URL-safe base64 plus a prefix, so a ':' starts the acting-as part.
        key, sep, identity = value.partition(":")
        if (
            not key
            or admin_key is None
            or not hmac.compare_digest(key.encode(), admin_key.encode())
        ):
            raise _unauthorized("the admin key is not valid for this deployment")
        return Credentials(admin=True, acting_as=_acting_as(identity) if sep else None)
    raise _unauthorized("the Authorization header must be 'Bearer <token>' or 'Convex <admin key>'")


def _acting_as(encoded: str) -> UserIdentity:
    try:
        claims: Any = json.loads(base64.b64decode(encoded, validate=True))
    except (binascii.Error, ValueError) as exc:
        raise ApiError(
            400, "BadActingAsIdentity", "the identity after the admin key must be base64 JSON"
        ) from exc
    if not isinstance(claims, dict):
        raise ApiError(400, "BadActingAsIdentity", "the acting-as identity must be an object")
    claims.pop("tokenIdentifier", None)  # derived from issuer and subject
    subject = claims.pop("subject", _ADMIN_SUBJECT)
    issuer = claims.pop("issuer", _ADMIN_ISSUER)
    if not isinstance(subject, str) or not isinstance(issuer, str):
        raise ApiError(
            400, "BadActingAsIdentity", "the acting-as identity's subject and issuer are strings"
        )
    return UserIdentity(subject, issuer, claims)


async def authenticate(runtime: Runtime, credentials: Credentials) -> UserIdentity | None:
    """The caller's identity: verified from the bearer token, or the admin's acting-as one.

    An invalid token is a 401, never a silent anonymous call.
    """
    if credentials.token is None:
        return credentials.acting_as
    try:
        return await runtime.authenticate(credentials.token)
    except AuthenticationError as exc:
        raise _unauthorized(str(exc)) from None
