"""Reading a request body as JSON, within a size limit, before anything else looks at it."""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request

from .errors import ApiError

__all__ = ["check_content_type", "read_json"]

# Convex's clients send application/json; fetch() with a string body and no header sends
# text/plain, and curl -d sends a form type that we do refuse (it is clearly not JSON).
_JSON_TYPES = frozenset(("", "application/json", "text/plain"))


def check_content_type(request: Request) -> None:
    """Refuse (415) a Content-Type that is clearly not JSON; missing or text/plain is fine."""
    header = request.headers.get("content-type")
    if header is None:
        return
    media_type = header.partition(";")[0].strip().lower()
    if media_type in _JSON_TYPES or media_type.endswith("+json"):
        return
    raise ApiError(
        415,
        "UnsupportedMediaType",
        f"the body must be JSON, not {media_type} (send Content-Type: application/json; "
        "curl -d needs -H 'Content-Type: application/json')",
    )


def _too_large(limit: int) -> ApiError:
    return ApiError(413, "PayloadTooLarge", f"the request body is larger than {limit} bytes")


async def read_json(request: Request, limit: int) -> Any:
    """The body parsed as JSON; 413 past ``limit`` bytes, 400 if it is not JSON.

    The limit is checked against Content-Length first and then while the body streams in, so
    an oversized upload is refused without being buffered.
    """
    length = request.headers.get("content-length")
    if length is not None:
        try:
            declared = int(length)
        except ValueError:
            raise ApiError(400, "BadRequest", "Content-Length is not a number") from None
        if declared > limit:
            raise _too_large(limit)
    chunks: list[bytes] = []
    size = 0
    more = True
    # Straight from ASGI receive (what Request.stream() wraps), to stop at the limit.
    while more:
        message = await request.receive()
        if message["type"] == "http.disconnect":
            raise ApiError(400, "BadRequest", "the client disconnected while sending")
        chunk: bytes = message.get("body", b"")
        more = message.get("more_body", False)
        size += len(chunk)
        if size > limit:
            raise _too_large(limit)
        chunks.append(chunk)
    body = chunks[0] if len(chunks) == 1 else b"".join(chunks)
    if not body.strip():
        raise ApiError(400, "BadJsonBody", "the request body is empty; expected a JSON object")
    try:
        return json.loads(body)
    except (ValueError, RecursionError) as exc:
        # ValueError covers JSONDecodeError, bad UTF-8 and over-long integer literals.
        raise ApiError(400, "BadJsonBody", f"the request body is not valid JSON: {exc}") from None
