"""HMAC signatures for storage URLs: upload tokens and serving-URL signatures.

Both are signed with one deployment secret, generated on first start and kept in the
database's ``ms_meta`` table (like the admin key), so every process of a deployment signs and
verifies alike and nothing leaves the server but signatures.

* An **upload token** is ``<pending upload id>.<expiry ms>.<signature>``. It names the row of
  ``_storage_uploads`` that holds the URL's limits; the row is consumed by the upload's final
  transaction, which is what makes each upload URL work once.
* A **serving URL** carries ``exp`` (omitted for permanent URLs), an optional ``filename``
  and ``sig`` over the storage id and both. Expiring URLs end on a window boundary
  (:func:`window_expiry`), so every call within one window yields the same URL.
"""

from __future__ import annotations

import base64
import hmac
import secrets

from ..db.base import Database
from ..errors import MainspringError

__all__ = [
    "SECRET_META_KEY",
    "InvalidSignature",
    "Signer",
    "load_signer",
    "window_expiry",
]

SECRET_META_KEY = "storage_signing_key"
_SIGNATURE_CHARS = 32  # 192 bits of HMAC-SHA256, URL-safe base64


class InvalidSignature(MainspringError):
    """A token or URL signature is malformed, forged or was tampered with."""


class Signer:
    """Signs and verifies strings with the deployment's storage secret."""

    def __init__(self, secret: bytes) -> None:
        if len(secret) < 32:
            raise ValueError("the storage signing secret must be at least 32 bytes")
        self._secret = secret

    def sign(self, *parts: str) -> str:
        """The signature of ``parts`` (joined unambiguously)."""
        message = "\x1f".join(parts).encode()
        digest = hmac.digest(self._secret, message, "sha256")  # one C call (OpenSSL's HMAC)
        return base64.urlsafe_b64encode(digest).decode()[:_SIGNATURE_CHARS]

    def verify(self, signature: str | None, *parts: str) -> bool:
        """True if ``signature`` is the signature of ``parts`` (constant-time comparison)."""
        if not signature:
            return False
        return hmac.compare_digest(signature.encode(), self.sign(*parts).encode())

    # -- upload tokens ----------------------------------------------------------------------

    def upload_token(self, upload_id: str, expires_ms: float) -> str:
        """The token of an upload URL naming pending upload ``upload_id``."""
        expires = str(int(expires_ms))
        return f"{upload_id}.{expires}.{self.sign('upload', upload_id, expires)}"

    def parse_upload_token(self, token: str | None) -> tuple[str, float]:
        """``(upload id, expiry ms)`` of a genuine token; InvalidSignature otherwise."""
        parts = (token or "").split(".")
        if len(parts) != 3 or not parts[1].isdigit():
            raise InvalidSignature("the upload token is malformed")
        upload_id, expires, signature = parts
        if not self.verify(signature, "upload", upload_id, expires):
            raise InvalidSignature("the upload token's signature is not valid")
        return upload_id, float(expires)

    # -- serving URLs -----------------------------------------------------------------------

    def url_signature(self, storage_id: str, expires_ms: int | None, filename: str | None) -> str:
        """The ``sig`` of a serving URL (``expires_ms`` None: a permanent URL)."""
        expires = "" if expires_ms is None else str(expires_ms)
        return self.sign("get", storage_id, expires, filename or "")


def window_expiry(now_ms: float, window_ms: int) -> int:
    """The end of the window after the current one: a URL minted now stays valid for
    between one and two windows, and every URL minted in one window is the same."""
    return (int(now_ms) // window_ms + 2) * window_ms


async def load_signer(database: Database) -> Signer:
    """The deployment's signer; the secret is generated on first use and kept in ms_meta."""
    async with database.transaction(write=True) as tx:
        encoded = await tx.get_meta(SECRET_META_KEY)
        if encoded is None:
            encoded = base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()
            await tx.set_meta(SECRET_META_KEY, encoded)
    return Signer(base64.urlsafe_b64decode(encoded))
