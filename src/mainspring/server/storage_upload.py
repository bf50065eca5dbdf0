"""``POST /api/storage/upload?token=…``: the raw request body becomes a stored file.

The body streams straight into the blob store (never whole in memory) while it is counted
against the size limit (the upload URL's and the deployment's, checked on Content-Length up
front and again as bytes arrive) and hashed. Only once the blob is complete, the digest (an
optional ``Digest: sha-256=<base64>`` or ``Content-Digest: sha-256=:<base64>:``) matches and
the final transaction — consume the upload URL, insert the ``_storage`` row — commits, is the
file there. A refused or broken upload leaves no row and no blob.

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
=========================================  ====  ====================
"""

from __future__ import annotations

import base64
import binascii
import logging
from collections.abc import AsyncIterator
from typing import Any

from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive

from ..runtime import Runtime, request_id
from ..storage.files import blob_key
from ..storage.media import parse_media_type, type_allowed
from ..storage.service import UploadRefused
from .encoding import encode
from .errors import ApiError, api_response

__all__ = ["StorageUpload", "expected_sha256"]

log = logging.getLogger("mainspring.server")

_REFUSALS: dict[str, tuple[int, str]] = {
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


async def _body(receive: Receive, limit: int) -> AsyncIterator[bytes]:
    """The request body in the chunks the server delivers, refused past ``limit`` bytes."""
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise UploadRefused("disconnected", "the client disconnected during the upload")
        chunk: bytes = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise UploadRefused("too_large", f"the file is larger than {limit} bytes")
        if chunk:
            yield chunk
        if not message.get("more_body", False):
            return


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
        service = self.runtime.storage
        pending = await service.pending_upload(request.query_params.get("token"))
        content_type = self._content_type(request.headers, pending)
        limit = service.max_upload_bytes
        if pending.get("maxSize") is not None:
            limit = min(limit, int(pending["maxSize"]))
        declared = request.headers.get("content-length")
        if declared is not None:
            if not declared.isdigit():
                raise UploadRefused("bad_request", "Content-Length is not a number")
            if int(declared) > limit:
                raise UploadRefused("too_large", f"the file is larger than {limit} bytes")
        expected = expected_sha256(request.headers)
        storage_id = service.new_storage_id()
        info = await service.blob_store.put(
            blob_key(storage_id), _body(request.receive, limit), content_type=content_type
        )
        if expected is not None and info.sha256 != expected:
            await service.delete_blob(storage_id)
            raise UploadRefused(
                "digest", f"the body's SHA-256 is {info.sha256}, the Digest header says {expected}"
            )
        return await service.finish_upload(pending["_id"], storage_id, info, content_type)

    @staticmethod
    def _content_type(headers: Headers, pending: dict[str, Any]) -> str | None:
        header = headers.get("content-type")
        media_type = parse_media_type(header)
        if header is not None and header.strip() and media_type is None:
            raise UploadRefused("content_type", f"{header!r} is not a media type")
        allowed = pending.get("contentTypes")
        if allowed is not None and not type_allowed(media_type, allowed):
            raise UploadRefused(
                "content_type",
                f"this upload URL accepts {', '.join(allowed)}, not {media_type or 'no type'}",
            )
        return header.strip() if header and media_type else None
