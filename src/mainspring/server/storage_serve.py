"""``GET|HEAD /api/storage/{storage_id}?exp=…&filename=…&sig=…``: serving stored files.

* The URL must carry a genuine signature (403 otherwise, and 403 once it has expired); a
  deleted file is 404.
* ``Range: bytes=a-b`` / ``a-`` / ``-n`` → 206 with ``Content-Range``; a range past the end →
  416. A request for several ranges is answered with the whole file (200): multipart/byteranges
  buys little for the files apps store, and RFC 9110 lets a server ignore Range.
* ``ETag`` is the quoted SHA-256; ``If-None-Match`` → 304; ``If-Range`` is honoured.
* ``Content-Type`` from the metadata, ``X-Content-Type-Options: nosniff``, and
  ``Content-Disposition`` ``inline`` or ``attachment`` by :func:`~mainspring.storage.media.
  disposition_for`, with an RFC 5987 filename (the signed ``filename`` or the id).
* ``Cache-Control: private`` up to the URL's expiry, ``immutable`` (a file never changes).
* The body streams from the blob store; nothing is read whole into memory.
"""

from __future__ import annotations

import mimetypes
from collections.abc import AsyncIterator
from typing import Any

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import BaseRoute, Route

from ..runtime import Runtime
from ..storage.base import BlobNotFound
from ..storage.media import content_disposition, disposition_for, parse_media_type
from ..storage.service import UrlExpired, blob_key, storage_id_of_key
from ..storage.signing import InvalidSignature
from .errors import ApiError
from .storage_upload import StorageUpload

__all__ = ["StorageServe", "parse_range", "storage_routes"]

PERMANENT_MAX_AGE_S = 86_400
_EXPOSED = "Content-Length, Content-Range, Content-Disposition, ETag"
Unsatisfiable = str
UNSATISFIABLE: Unsatisfiable = "unsatisfiable"


def parse_range(header: str | None, size: int) -> tuple[int, int] | Unsatisfiable | None:
    """``(start, end)`` (end exclusive) of a single byte range, UNSATISFIABLE, or None for
    "serve the whole file" (no header, not bytes, malformed or several ranges)."""
    if header is None:
        return None
    unit, _, spec = header.partition("=")
    if unit.strip().lower() != "bytes" or "," in spec:
        return None
    first, dash, last = spec.strip().partition("-")
    if not dash or not (first.isdigit() or last.isdigit()):
        return None
    if not first:  # suffix: the last n bytes
        n = int(last)
        return UNSATISFIABLE if n == 0 or size == 0 else (max(0, size - n), size)
    start = int(first)
    if last and (not last.isdigit() or int(last) < start):
        return None
    if start >= size:
        return UNSATISFIABLE
    end = size if not last else min(int(last) + 1, size)
    return start, end


def _etag_matches(header: str | None, etag: str) -> bool:
    if header is None:
        return False
    tags = [t.strip().removeprefix("W/") for t in header.split(",")]
    return "*" in tags or etag in tags


async def _prepend(first: bytes, rest: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    if first:
        yield first
    async for chunk in rest:
        yield chunk


class StorageServe:
    """The serving endpoint of one runtime."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime

    async def handle(self, request: Request) -> Response:
        """Serve (part of) one file."""
        service = self.runtime.storage
        storage_id = request.path_params["storage_id"]
        params = request.query_params
        filename = params.get("filename")
        try:
            expires = service.check_serving_url(
                storage_id, params.get("exp"), filename, params.get("sig")
            )
        except InvalidSignature as exc:
            return ApiError(403, "InvalidSignature", str(exc)).response()
        except UrlExpired as exc:
            return ApiError(403, "UrlExpired", str(exc)).response()
        meta = await service.metadata(storage_id) if storage_id_of_key(storage_id) else None
        if meta is None:
            return ApiError(404, "FileNotFound", f"no stored file {storage_id}").response()
        headers = self._headers(meta, expires, filename)
        if _etag_matches(request.headers.get("if-none-match"), headers["etag"]):
            keep = ("etag", "cache-control", "access-control-allow-origin")
            return Response(status_code=304, headers={k: headers[k] for k in keep})
        size: int = meta["size"]
        wanted = request.headers.get("range")
        if_range = request.headers.get("if-range")
        if if_range is not None and if_range.strip() != headers["etag"]:
            wanted = None
        byte_range = parse_range(wanted, size)
        if byte_range == UNSATISFIABLE:
            refused = ApiError(416, "RangeNotSatisfiable", f"the file has {size} bytes").response()
            refused.headers["content-range"] = f"bytes */{size}"
            return refused
        status = 200
        start, end = 0, size
        if isinstance(byte_range, tuple):
            status, (start, end) = 206, byte_range
            headers["content-range"] = f"bytes {start}-{end - 1}/{size}"
        headers["content-length"] = str(end - start)
        return await self._body(request, storage_id, status, headers, start, end)

    async def _body(
        self,
        request: Request,
        storage_id: str,
        status: int,
        headers: dict[str, str],
        start: int,
        end: int,
    ) -> Response:
        store = self.runtime.storage.blob_store
        gone = ApiError(404, "FileNotFound", f"no stored file {storage_id}")
        if request.method == "HEAD" or start == end:
            if await store.stat(blob_key(storage_id)) is None:
                return gone.response()
            return Response(b"", status_code=status, headers=headers)
        chunks = store.get(blob_key(storage_id), start, end)
        # Read the first chunk before answering, so a missing blob is still a clean 404.
        try:
            first = await anext(chunks, b"")
        except BlobNotFound:
            return gone.response()
        if len(first) >= end - start:
            # All of it in one read (most files): one body, without a streaming task.
            close = getattr(chunks, "aclose", None)
            if close is not None:
                await close()  # the store's file handle, now rather than when collected
            return Response(first, status_code=status, headers=headers)
        return StreamingResponse(_prepend(first, chunks), status_code=status, headers=headers)

    def _headers(
        self, meta: dict[str, Any], expires: int | None, filename: str | None
    ) -> dict[str, str]:
        content_type = meta["contentType"]
        media_type = parse_media_type(content_type)
        if not filename:
            extension = mimetypes.guess_extension(media_type) if media_type else None
            filename = meta["storageId"] + (extension or "")
        if expires is None:
            cache = f"private, max-age={PERMANENT_MAX_AGE_S}"
        else:
            remaining = max(0, int(expires - self.runtime.storage.now_ms()) // 1000)
            cache = f"private, max-age={remaining}, immutable"
        return {
            "content-type": content_type or "application/octet-stream",
            "content-disposition": content_disposition(disposition_for(media_type), filename),
            "x-content-type-options": "nosniff",
            "etag": f'"{meta["sha256"]}"',
            "accept-ranges": "bytes",
            "cache-control": cache,
            "access-control-allow-origin": "*",
            "access-control-expose-headers": _EXPOSED,
            "cross-origin-resource-policy": "cross-origin",
        }


def storage_routes(runtime: Runtime, serve: StorageServe | None = None) -> list[BaseRoute]:
    """The upload and serving routes (CORS preflight is answered by ``ApiPreflight``)."""
    serve = serve or StorageServe(runtime)
    return [
        Route("/api/storage/upload", StorageUpload(runtime).handle, methods=["POST"]),
        Route("/api/storage/{storage_id}", serve.handle, methods=["GET", "HEAD"]),
    ]
