"""CORS for ``/api/*``: any origin may call the API from a browser.

The API authenticates by header, never by cookie, so allowing every origin (without
credentials) grants no ambient authority; that is also what Convex deployments do. Responses
carry ``Access-Control-Allow-Origin: *`` from the API's own response helpers, and
:class:`ApiPreflight` answers preflight requests. Starlette's CORSMiddleware would do both,
but it wraps ``send`` and edits the headers of every response, which cost a measurable share
of a trivial call; with a fixed ``*`` origin there is nothing per-request to compute.
Other routes (user HTTP endpoints) decide about CORS themselves.
"""

from __future__ import annotations

from starlette.datastructures import Headers
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

__all__ = ["API_PREFIX", "ApiPreflight", "CORS_HEADERS"]

API_PREFIX = "/api/"
CORS_HEADERS: dict[str, str] = {"access-control-allow-origin": "*"}

_ALWAYS_ALLOWED = ("authorization", "content-type", "convex-client")
_MAX_AGE = "86400"


class ApiPreflight:
    """ASGI middleware answering CORS preflight requests (``OPTIONS``) under ``/api/``."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] == "http"
            and scope["method"] == "OPTIONS"
            and scope["path"].startswith(API_PREFIX)
        ):
            headers = Headers(scope=scope)
            if "access-control-request-method" in headers:
                await _preflight(headers)(scope, receive, send)
                return
        await self.app(scope, receive, send)


def _preflight(headers: Headers) -> Response:
    # Mirror the headers the browser asks for (no credentials are involved, so this is the
    # same as allowing any header) and always name the ones our clients send, since a "*"
    # would not cover Authorization.
    requested = [
        h.strip().lower() for h in headers.get("access-control-request-headers", "").split(",")
    ]
    allowed = list(dict.fromkeys([*_ALWAYS_ALLOWED, *(h for h in requested if h)]))
    return Response(
        status_code=204,
        headers={
            **CORS_HEADERS,
            "access-control-allow-methods": "GET, POST, OPTIONS",
            "access-control-allow-headers": ", ".join(allowed),
            "access-control-max-age": _MAX_AGE,
        },
    )
