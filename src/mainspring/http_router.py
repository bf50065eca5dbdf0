"""User HTTP endpoints: ``HttpRouter`` in ``backend/http.py``, served under ``/http``.

::

    from mainspring import HttpRouter, http_action

    http = HttpRouter(cors=Cors(origins=["https://app.example.com"]))

    @http_action
    async def hello(ctx, request):
        return JSONResponse({"hi": (await ctx.auth.get_user_identity()) is not None})

    http.route("/hello", "GET", hello)
    http.route_prefix("/files/", "GET", serve_file)

Handlers run as actions (``ctx.run_query``, ``ctx.run_mutation``, ``ctx.storage``…), take a
Starlette ``Request`` and return any Starlette ``Response`` — ``StreamingResponse`` included.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from .errors import SchemaError

__all__ = ["Cors", "HttpAction", "HttpRouter", "http_action"]

_METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "HEAD"})


class HttpAction:
    """A handler ``async def (ctx, request) -> Response`` declared with ``@http_action``."""

    def __init__(self, handler: Callable[[Any, Request], Awaitable[Response]]) -> None:
        if not inspect.iscoroutinefunction(handler):
            raise SchemaError(f"{handler.__qualname__}: HTTP actions must be `async def`")
        self.handler = handler
        self.name = handler.__qualname__

    async def __call__(self, ctx: Any, request: Request) -> Response:
        return await self.handler(ctx, request)


def http_action(handler: Callable[[Any, Request], Awaitable[Response]]) -> HttpAction:
    """Declare an HTTP action: ``async def handler(ctx, request) -> Response``."""
    return HttpAction(handler)


@dataclass(frozen=True)
class Cors:
    """Which origins may call the routes from a browser, answered on preflight and responses."""

    origins: Sequence[str] = ("*",)
    headers: Sequence[str] = ("Content-Type", "Authorization", "Digest")
    credentials: bool = False
    max_age: int = 86_400

    def allow_origin(self, origin: str | None) -> str | None:
        """The Access-Control-Allow-Origin value for a request from ``origin`` (None: refuse)."""
        if origin is None:
            return None
        if "*" in self.origins:
            return origin if self.credentials else "*"
        return origin if origin in self.origins else None

    def apply(self, request: Request, response: Response) -> Response:
        """Add the CORS headers a response to ``request`` needs."""
        allowed = self.allow_origin(request.headers.get("origin"))
        if allowed is not None:
            response.headers["Access-Control-Allow-Origin"] = allowed
            response.headers["Vary"] = "Origin"
            if self.credentials:
                response.headers["Access-Control-Allow-Credentials"] = "true"
        return response

    def preflight(self, request: Request, methods: Sequence[str]) -> Response:
        """The answer to an OPTIONS preflight for a path that allows ``methods``."""
        response = Response(status_code=204)
        if self.allow_origin(request.headers.get("origin")) is None:
            return Response(status_code=403)
        response.headers["Access-Control-Allow-Methods"] = ", ".join(sorted(methods))
        response.headers["Access-Control-Allow-Headers"] = ", ".join(self.headers)
        response.headers["Access-Control-Max-Age"] = str(self.max_age)
        return self.apply(request, response)


@dataclass(frozen=True)
class _Route:
    path: str
    prefix: bool
    method: str
    action: HttpAction


class HttpRouter:
    """Routes requests by exact path or path prefix and by method."""

    def __init__(self, *, cors: Cors | None = None) -> None:
        self.cors = cors
        self._routes: list[_Route] = []

    def _add(self, path: str, method: str, action: Any, prefix: bool) -> None:
        method = method.upper()
        if method not in _METHODS:
            raise SchemaError(f"http route {path!r}: unknown method {method!r}")
        if not path.startswith("/") or (prefix and not path.endswith("/")):
            raise SchemaError(
                f"http route {path!r}: paths start with '/' and prefixes also end with '/'"
            )
        if not isinstance(action, HttpAction):
            raise SchemaError(f"http route {path!r}: the handler must be an @http_action")
        if any(r.path == path and r.method == method and r.prefix == prefix for r in self._routes):
            raise SchemaError(f"http route {method} {path!r} is declared twice")
        self._routes.append(_Route(path, prefix, method, action))

    def route(self, path: str, method: str, handler: HttpAction) -> None:
        """Serve ``method path`` (exact match) with ``handler``."""
        self._add(path, method, handler, prefix=False)

    def route_prefix(self, prefix: str, method: str, handler: HttpAction) -> None:
        """Serve every path under ``prefix`` (ends with '/'); the longest prefix wins."""
        self._add(prefix, method, handler, prefix=True)

    def _candidates(self, path: str) -> list[_Route]:
        exact = [r for r in self._routes if not r.prefix and r.path == path]
        if exact:
            return exact
        prefixed = [r for r in self._routes if r.prefix and path.startswith(r.path)]
        if not prefixed:
            return []
        longest = max(len(r.path) for r in prefixed)
        return [r for r in prefixed if len(r.path) == longest]

    def match(self, method: str, path: str) -> tuple[HttpAction | None, list[str]]:
        """The action for ``method path`` (None if no route), and the methods the path allows."""
        candidates = self._candidates(path)
        allowed = sorted({r.method for r in candidates})
        method = method.upper()
        for route in candidates:
            if route.method == method or (method == "HEAD" and route.method == "GET"):
                return route.action, allowed
        return None, allowed
