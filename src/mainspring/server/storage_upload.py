"""``POST /api/storage/upload?token=…``: the raw request body becomes a stored file.

This route only speaks HTTP. The rules of an upload are applied by
:meth:`~mainspring.storage.uploads.Uploads.accept`; the route hands it the token
(``?token=``), the body (as the chunks the server receives, never whole in memory), the
Content-Type, the Content-Length and the digest an optional ``Digest: sha-256=<base64>`` or
``Content-Digest: sha-256=:<base64>:`` header promises. The refusals become these answers
(the last row's are the route's own: headers it cannot parse, a client gone mid-body):

=========================================  ====  ====================
refusal                                    code  ``code`` in the body
=========================================  ====  ====================
no ``?token=``                             401   MissingUploadToken
token expired                              401   UploadUrlExpired
token forged or tampered with              403   InvalidUploadToken
upload URL already used                    410   UploadUrlUsed
larger than the URL's or deployment limit  413   PayloadTooLarge
Content-Type not allowed by the URL        415   UnsupportedMediaType
malformed or mismatched digest             400   BadDigest / DigestMismatch
bad Content-Length, client disconnected    400   BadRequest / ClientDisconnected
=========================================  ====  ====================
"""

from __future__ import annotations

import base64
import binascii
import logging
from collections.abc import AsyncIterator

from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive

from ..runtime import Runtime
from ..storage.uploads import RefusalReason, UploadRefused
from ..wire.encoding import encode
from ..wire.failures import request_id
from .errors import ApiError, api_response

__all__ = ["StorageUpload", "expected_sha256"]

log = logging.getLogger("mainspring.server")

_REFUSALS: dict[RefusalReason, tuple[int, str]] = {
    "missing": (401, "MissingUploadToken"),
    "expired": (401, "UploadUrlExpired"),
    "forged": (403, "InvalidUploadToken"),
    "used": (410, "UploadUrlUsed"),
    "too_large": (413, "PayloadTooLarge"),
    "content_type": (415, "UnsupportedMediaType"),
    "bad_digest": (400, "BadDigest"),
    "digest": (400, "DigestMismatch"),
    "bad_request": (400, "BadRequest"),
    "disconnected": (400, "ClientDisconnected"),
}


def expected_sha256(headers: Headers) -> str | None:
    """The SHA-256 (hex) a ``Content-Digest`` or ``Digest`` header promises, if any."""
    for name in ("content-digest", "digest"):
        value = headers.get(name)
        if value is None:
            continue
        for item in value.split(","):
            algorithm, _, encoded = item.strip().partition("=")
            if algorithm.strip().lower() != "sha-256":
                continue
            try:
                raw = base64.b64decode(encoded.strip().strip(":"), validate=True)
            except (binascii.Error, ValueError):
                raw = b""
            if len(raw) != 32:
                raise UploadRefused("bad_digest", f"{name}: sha-256 must be 32 bytes in base64")
            return raw.hex()
    return None


async def _body(receive: Receive) -> AsyncIterator[bytes]:
    """The request body in the chunks the server delivers."""
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise UploadRefused("disconnected", "the client disconnected during the upload")
        chunk: bytes = message.get("body", b"")
        if chunk:
            yield chunk
        if not message.get("more_body", False):
            return


def _declared_length(headers: Headers) -> int | None:
    declared = headers.get("content-length")
    if declared is None:
        return None
    if not declared.isdigit():
        raise UploadRefused("bad_request", "Content-Length is not a number")
    return int(declared)


class StorageUpload:
    """The upload endpoint of one runtime."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime

    async def handle(self, request: Request) -> Response:
        """Answer one upload: ``{"storageId": …}`` or a JSON refusal."""
        try:
            storage_id = await self._upload(request)
        except UploadRefused as exc:
            status, code = _REFUSALS[exc.reason]
            return ApiError(status, code, str(exc)).response()
        except Exception:
            rid = request_id()
            log.exception("[Request ID: %s] upload failed", rid)
            return ApiError(500, "ServerError", f"[Request ID: {rid}] Server Error").response()
        return api_response(encode({"storageId": storage_id}))

    async def _upload(self, request: Request) -> str:
        headers = request.headers
        return await self.runtime.storage.uploads.accept(
            request.query_params.get("token"),
            _body(request.receive),
            declared_length=_declared_length(headers),
            content_type=headers.get("content-type"),
            expected_sha256=expected_sha256(headers),
        )
