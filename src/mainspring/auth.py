"""Who is calling: ``ctx.auth.get_user_identity()``."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Auth", "UserIdentity"]


@dataclass(frozen=True)
class UserIdentity:
    """A verified caller. ``token_identifier`` is unique per user across issuers."""

    subject: str
    issuer: str
    claims: Mapping[str, Any] = field(default_factory=dict)

    @property
    def token_identifier(self) -> str:
        """``issuer|subject``, stable and unique across providers."""
        return f"{self.issuer}|{self.subject}"

    def __getattr__(self, name: str) -> Any:
        # Standard and custom claims read as attributes: identity.email, identity.name
        claims = object.__getattribute__(self, "claims")
        if name in claims:
            return claims[name]
        raise AttributeError(name)

    def __getitem__(self, name: str) -> Any:
        if name in ("subject", "issuer"):
            return getattr(self, name)
        if name in ("tokenIdentifier", "token_identifier"):
            return self.token_identifier
        return self.claims[name]

    def to_dict(self) -> dict[str, Any]:
        """Convex's identity object shape."""
        return {
            **self.claims,
            "subject": self.subject,
            "issuer": self.issuer,
            "tokenIdentifier": self.token_identifier,
        }


class Auth:
    """``ctx.auth``: the identity of the caller, or None (always None in scheduled work)."""

    def __init__(self, identity: UserIdentity | None = None) -> None:
        self._identity = identity

    async def get_user_identity(self) -> UserIdentity | None:
        """The verified identity of the caller, or None when unauthenticated."""
        return self._identity

    @property
    def identity(self) -> UserIdentity | None:
        """Same as ``await get_user_identity()``, for synchronous code."""
        return self._identity
