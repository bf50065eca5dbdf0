"""The ASGI application: routes, CORS preflight for the API, JSON errors, the runtime lifespan."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from .. import __version__
from ..runtime import Runtime
from .api import FunctionApi
from .cors import ApiPreflight
from .encoding import encode
from .errors import http_exception_handler
from .http_actions import HttpActions
from .storage_serve import storage_routes

__all__ = ["create_app"]

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

    routes: list[BaseRoute] = [
        *_api_routes(api),
        *storage_routes(runtime),
        Route("/http/{path:path}", HttpActions(runtime).handle, methods=_HTTP_METHODS),
        Route("/", _health, methods=["GET"]),
        Route("/version", _version, methods=["GET"]),
    ]
    app = Starlette(
        routes=routes,
        middleware=[Middleware(ApiPreflight)],
        lifespan=lifespan,
        exception_handlers={HTTPException: http_exception_handler},
    )
    app.state.runtime = runtime
    return app
