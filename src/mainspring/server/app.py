"""The ASGI application: routes, CORS preflight for the API, JSON errors, the runtime lifespan."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from types import MappingProxyType
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import BaseRoute, Route, WebSocketRoute
from starlette.types import Receive, Scope, Send

from .. import __version__
from ..runtime import Runtime
from ..wire.encoding import encode
from .api import FunctionApi
from .cors import ApiPreflight
from .errors import http_exception_handler
from .http_actions import HttpActions
from .storage_serve import StorageServe, storage_routes

__all__ = ["create_app"]

log = logging.getLogger("mainspring.server")

DEFAULT_MAX_BODY_BYTES = 8 * 1024 * 1024
_HTTP_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "HEAD"]

_VERSION_BODY = encode({"name": "mainspring", "version": __version__})
_HEALTH_BODY = encode({"status": "ok"})


async def _version(request: Request) -> Response:
    return Response(_VERSION_BODY, media_type="application/json")


async def _health(request: Request) -> Response:
    return Response(_HEALTH_BODY, media_type="application/json")


def _api_routes(api: FunctionApi) -> list[BaseRoute]:
    # Flat routes, the hot ones first: the router tries them in order (a Mount would add a
    # second router and a scope copy per call).
    post = ["POST"]
    return [
        Route("/api/query", api.query, methods=post),
        Route("/api/mutation", api.mutation, methods=post),
        Route("/api/action", api.action, methods=post),
        Route("/api/function", api.function, methods=post),
        Route("/api/run/{identifier:path}", api.run, methods=["GET", "POST"]),
        Route("/api/query_ts", api.not_supported, methods=post),
        Route("/api/query_at_ts", api.not_supported, methods=post),
    ]


class _App(Starlette):
    """Starlette, with the hot endpoints dispatched before the middleware and router.

    A trivial query spends a third of its server time in Starlette's layers (error and
    exception middleware, route matching) that these endpoints do not need: they catch their
    own errors and add their own CORS header. The function calls and the download of a stored
    file go straight to their endpoint; everything else takes the usual path.
    """

    #: Path -> endpoint of the POST function calls, set by :func:`create_app`.
    hot: Mapping[str, Any] = MappingProxyType({})
    #: The endpoint serving ``GET /api/storage/{storage_id}``, set by :func:`create_app`.
    serve_file: Any = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            method, path = scope["method"], scope["path"]
            if method == "POST":
                endpoint = self.hot.get(path)
                if endpoint is not None:
                    await self._dispatch(endpoint, scope, receive, send)
                    return
            elif method == "GET" and path.startswith(_FILES) and self.serve_file is not None:
                storage_id = path[len(_FILES) :]
                if storage_id and "/" not in storage_id:
                    scope["path_params"] = {"storage_id": storage_id}
                    await self._dispatch(self.serve_file, scope, receive, send)
                    return
        await super().__call__(scope, receive, send)

    async def _dispatch(self, endpoint: Any, scope: Scope, receive: Receive, send: Send) -> None:
        scope["app"] = self
        try:
            response = await endpoint(Request(scope, receive))
        except Exception:
            log.exception("%s failed", scope["path"])
            response = PlainTextResponse("Internal Server Error", status_code=500)
        await response(scope, receive, send)


_FILES = "/api/storage/"


def create_app(runtime: Runtime, *, max_body_bytes: int = DEFAULT_MAX_BODY_BYTES) -> Starlette:
    """The HTTP server of a deployment, ready for ``uvicorn``.

    Its lifespan starts and stops ``runtime``. ``max_body_bytes`` bounds a function call's
    request body (413 beyond it).
    """
    api = FunctionApi(runtime, max_body_bytes)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await runtime.start()
        try:
            yield
        finally:
            await runtime.stop()

    # Imported here: the sync package reports failures through this package's modules, so
    # importing it at the top would make `import mainspring.sync.session` circular.
    from ..sync.endpoint import SyncEndpoint
    from ..sync.hub import attach_sync

    files = StorageServe(runtime)
    sync = SyncEndpoint(attach_sync(runtime))
    routes: list[BaseRoute] = [
        WebSocketRoute("/api/sync", sync),
        WebSocketRoute("/api/{version}/sync", sync),
        *_api_routes(api),
        *storage_routes(runtime, files),
        Route("/http/{path:path}", HttpActions(runtime).handle, methods=_HTTP_METHODS),
        Route("/", _health, methods=["GET"]),
        Route("/version", _version, methods=["GET"]),
    ]
    app = _App(
        routes=routes,
        middleware=[Middleware(ApiPreflight)],
        lifespan=lifespan,
        exception_handlers={HTTPException: http_exception_handler},
    )
    app.hot = {"/api/query": api.query, "/api/mutation": api.mutation, "/api/action": api.action}
    app.serve_file = files.handle
    app.state.runtime = runtime
    app.state.sync = sync.hub
    return app
