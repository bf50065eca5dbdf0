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
* The body: a range of at most :data:`~mainspring.storage.local.SMALL_READ` (2 MiB) on local
  disk is read in one read (or mapped, from 128 KiB: ``map_range``), after the headers are
  sent, and sent as one body message (``LocalBlobStore.open_file``); anything larger, and
  every other store, streams in the store's bounded chunks.
* Metadata comes from :meth:`~mainspring.storage.service.StorageService.serving_metadata`,
  which may remember it; whether the file still exists is always told by its blob, read (or
  stat'ed for HEAD) before the answer.
"""

from __future__ import annotations

import functools
import logging
import mimetypes
import os
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import unquote_plus

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import BaseRoute, Route
from starlette.types import Receive, Scope, Send

from ..runtime import Runtime
from ..storage.base import BlobNotFound
from ..storage.files import blob_key, storage_id_of_key
from ..storage.local import SMALL_READ, LocalBlobStore, map_range
from ..storage.media import content_disposition, disposition_for, parse_media_type
from ..storage.service import UrlExpired
from ..storage.signing import InvalidSignature
from .errors import ApiError
from .storage_upload import StorageUpload

__all__ = ["StorageServe", "parse_range", "storage_routes"]

log = logging.getLogger("mainspring.storage")

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


def _query_params(query: str) -> dict[str, str]:
    """What Starlette's QueryParams gives (blank values kept, the last value wins), without
    its multidict, and unquoting only what needs it (a signed URL's parameters seldom do)."""
    params = {}
    for pair in query.split("&"):
        if pair:
            name, _, value = pair.partition("=")
            if "%" in pair or "+" in pair:
                name, value = unquote_plus(name), unquote_plus(value)
            params[name] = value
    return params


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


def _gone(storage_id: str) -> Response:
    return ApiError(404, "FileNotFound", f"no stored file {storage_id}").response()


class _FileResponse(Response):
    # Response.__init__ lowercases and encodes every header through a comprehension and
    # MutableHeaders; these are built as bytes already (see StorageServe._headers).
    def __init__(self, body: bytes, status: int, raw_headers: list[tuple[bytes, bytes]]) -> None:
        self.status_code = status
        self.body = body
        self.background = None
        self.raw_headers = raw_headers


class _SmallFileResponse(Response):
    """A range of at most SMALL_READ bytes of an open blob file, which it closes once sent.

    The headers go first and the bytes are read after: the client takes the headers in while
    the server reads (~0.1 ms per MB from the page cache), as nginx's sendfile also answers.
    A range of 128 KiB or more is mapped rather than read (``map_range``): the socket write
    copies it from the page cache, the one copy instead of two (10% of a 1 MB download).
    The file was opened (and its size checked) before, so a missing blob is still a clean 404.
    It must be sent, like every response: it owns the descriptor.
    """

    def __init__(
        self, fd: int, start: int, end: int, status: int, raw_headers: list[tuple[bytes, bytes]]
    ) -> None:
        self.status_code = status
        self.body = b""
        self.background = None
        self.raw_headers = raw_headers
        self._fd, self._start, self._end = fd, start, end

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            start = {"type": "http.response.start", "status": self.status_code}
            await send({**start, "headers": self.raw_headers})
            body = map_range(self._fd, self._start, self._end)
        finally:
            os.close(self._fd)
        await send({"type": "http.response.body", "body": body})


@functools.lru_cache(maxsize=256)
def _type_facts(content_type: str | None) -> tuple[bytes, str, str]:
    """``(Content-Type value, disposition kind, extension of a default filename)`` of a stored
    file's content type: the same for every file of that type, so computed once."""
    media_type = parse_media_type(content_type)
    extension = mimetypes.guess_extension(media_type) if media_type else None
    served = (content_type or "application/octet-stream").encode("latin-1")
    return served, disposition_for(media_type), extension or ""


_STATIC_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"accept-ranges", b"bytes"),
    (b"access-control-allow-origin", b"*"),
    (b"access-control-expose-headers", _EXPOSED.encode()),
    (b"cross-origin-resource-policy", b"cross-origin"),
]


class StorageServe:
    """The serving endpoint of one runtime."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime

    async def handle(self, request: Request) -> Response:
        """Serve (part of) one file."""
        service = self.runtime.storage
        scope = request.scope
        storage_id = scope["path_params"]["storage_id"]
        params = _query_params(scope["query_string"].decode("latin-1"))
        filename = params.get("filename")
        try:
            expires = service.check_serving_url(
                storage_id, params.get("exp"), filename, params.get("sig")
            )
        except InvalidSignature as exc:
            return ApiError(403, "InvalidSignature", str(exc)).response()
        except UrlExpired as exc:
            return ApiError(403, "UrlExpired", str(exc)).response()
        # Cached facts, when the body's read below tells whether the file still exists.
        meta = await service.serving_metadata(storage_id) if storage_id_of_key(storage_id) else None
        if meta is None:
            return _gone(storage_id)
        wanted = if_range = if_none_match = None
        for name, value in scope["headers"]:  # one pass instead of three Headers lookups
            if name == b"range":
                wanted = value.decode("latin-1")
            elif name == b"if-range":
                if_range = value.decode("latin-1")
            elif name == b"if-none-match":
                if_none_match = value.decode("latin-1")
        etag = f'"{meta["sha256"]}"'
        cache = self._cache_control(expires)
        if _etag_matches(if_none_match, etag):
            if not await self._exists(storage_id):
                return _gone(storage_id)
            kept = {"etag": etag, "cache-control": cache, "access-control-allow-origin": "*"}
            return Response(status_code=304, headers=kept)
        size: int = meta["size"]
        if if_range is not None and if_range.strip() != etag:
            wanted = None
        byte_range = parse_range(wanted, size)
        if byte_range == UNSATISFIABLE:
            if not await self._exists(storage_id):
                return _gone(storage_id)
            refused = ApiError(416, "RangeNotSatisfiable", f"the file has {size} bytes").response()
            refused.headers["content-range"] = f"bytes */{size}"
            return refused
        status = 200
        start, end = 0, size
        headers = self._headers(meta, etag, cache, filename)
        if isinstance(byte_range, tuple):
            status, (start, end) = 206, byte_range
            headers.append((b"content-range", f"bytes {start}-{end - 1}/{size}".encode()))
        headers.append((b"content-length", str(end - start).encode()))
        return await self._body(request, storage_id, status, headers, start, end)

    async def _body(
        self,
        request: Request,
        storage_id: str,
        status: int,
        headers: list[tuple[bytes, bytes]],
        start: int,
        end: int,
    ) -> Response:
        # Every answer reads or stats the blob first: that is what tells a deleted file (404)
        # when its metadata came from StorageService's cache.
        store = self.runtime.storage.blob_store
        key = blob_key(storage_id)
        if request.method == "HEAD" or start == end:
            if await store.stat(key) is None:
                return _gone(storage_id)
            return _FileResponse(b"", status, headers)
        if isinstance(store, LocalBlobStore) and end - start <= SMALL_READ:
            # Most files: one read and one body message. Streaming costs a task, a chunk
            # iteration and a send per 256 KiB: about half a millisecond for 1 MB.
            try:
                fd, file_size = store.open_file(key)
            except BlobNotFound:
                return _gone(storage_id)
            if file_size < end:
                os.close(fd)
                log.error("the blob of %s is shorter than its recorded size", storage_id)
                return ApiError(
                    500, "BlobDamaged", f"stored file {storage_id} is damaged"
                ).response()
            return _SmallFileResponse(fd, start, end, status, headers)
        chunks = store.get(key, start, end)
        # Read the first chunk before answering, so a missing blob is still a clean 404.
        try:
            first = await anext(chunks, b"")
        except BlobNotFound:
            return _gone(storage_id)
        if len(first) >= end - start:
            # All of it in one read: one body, without a streaming task.
            close = getattr(chunks, "aclose", None)
            if close is not None:
                await close()  # the store's file handle, now rather than when collected
            return _FileResponse(first, status, headers)
        streamed = StreamingResponse(_prepend(first, chunks), status_code=status)
        streamed.raw_headers = headers
        return streamed

    async def _exists(self, storage_id: str) -> bool:
        """Whether the file is still there, for answers that send no bytes (304, 416)."""
        store = self.runtime.storage.blob_store
        if not isinstance(store, LocalBlobStore):
            return True  # its metadata was read from the database just now: it is there
        return await store.stat(blob_key(storage_id)) is not None

    def _cache_control(self, expires: int | None) -> str:
        if expires is None:
            return f"private, max-age={PERMANENT_MAX_AGE_S}"
        remaining = max(0, int(expires - self.runtime.storage.now_ms()) // 1000)
        return f"private, max-age={remaining}, immutable"

    def _headers(
        self, meta: dict[str, Any], etag: str, cache: str, filename: str | None
    ) -> list[tuple[bytes, bytes]]:
        served_type, kind, extension = _type_facts(meta["contentType"])
        disposition = content_disposition(kind, filename or meta["storageId"] + extension)
        return [
            (b"content-type", served_type),
            (b"content-disposition", disposition.encode("latin-1")),
            (b"etag", etag.encode("latin-1")),
            (b"cache-control", cache.encode("latin-1")),
            *_STATIC_HEADERS,
        ]


def storage_routes(runtime: Runtime, serve: StorageServe | None = None) -> list[BaseRoute]:
    """The upload and serving routes (CORS preflight is answered by ``ApiPreflight``)."""
    serve = serve or StorageServe(runtime)
    return [
        Route("/api/storage/upload", StorageUpload(runtime).handle, methods=["POST"]),
        Route("/api/storage/{storage_id}", serve.handle, methods=["GET", "HEAD"]),
    ]
