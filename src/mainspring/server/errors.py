"""HTTP errors of the API: ``{"code": ..., "message": ...}`` bodies with a 4xx status.

A request the server refuses before any function runs (bad JSON, unknown function, invalid
arguments, too large, wrong method) is answered here. A function that ran and failed is not:
that is a 560 response built by :mod:`mainspring.server.api`.
"""

from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from ..wire.encoding import encode
from .cors import API_PREFIX, CORS_HEADERS

__all__ = ["ApiError", "api_response", "error_response", "http_exception_handler"]

# Codes for Starlette's own refusals (no route, wrong method), in the same style as ours.
_HTTP_CODES = {
    400: "BadRequest",
    401: "Unauthenticated",
    404: "NotFound",
    405: "MethodNotAllowed",
    413: "PayloadTooLarge",
    415: "UnsupportedMediaType",
}


class ApiError(Exception):
    """A request the API refuses; becomes ``{"code", "message"}`` with ``status``."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message

    def response(self) -> Response:
        """This error as an HTTP response."""
        return api_response(encode({"code": self.code, "message": self.message}), self.status)


class _ApiResponse(Response):
    # Response.__init__ builds its headers through MutableHeaders, a measurable share of a
    # trivial call; the API's headers are always these three.
    def __init__(self, body: bytes, status: int) -> None:
        self.status_code = status
        self.body = body
        self.background = None
        self.raw_headers = [
            *_CORS_RAW,
            (b"content-length", str(len(body)).encode("ascii")),
            (b"content-type", b"application/json"),
        ]


_CORS_RAW = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in CORS_HEADERS.items()]


def api_response(body: bytes, status: int = 200) -> Response:
    """A JSON response of the API, readable from any origin."""
    return _ApiResponse(body, status)


def error_response(
    status: int, code: str, message: str, headers: dict[str, str] | None = None
) -> Response:
    """A JSON error body ``{"code": code, "message": message}``."""
    return Response(
        encode({"code": code, "message": message}),
        status_code=status,
        headers=headers,
        media_type="application/json",
    )


async def http_exception_handler(request: Request, exc: Exception) -> Response:
    """Starlette's 404/405 (and any HTTPException) as a JSON error body, keeping its headers."""
    assert isinstance(exc, HTTPException)
    code = _HTTP_CODES.get(exc.status_code, "HttpError")
    message = exc.detail
    if exc.status_code == 404:
        message = f"no endpoint {request.method} {request.url.path}"
    elif exc.status_code == 405:
        message = f"{request.method} is not allowed on {request.url.path}"
    headers = dict(exc.headers or {})
    if request.url.path.startswith(API_PREFIX):
        headers.update(CORS_HEADERS)  # so a browser can read why its call was refused
    return error_response(exc.status_code, code, message, headers)
