"""Serving the app's own HTTP endpoints (``backend/http.py``'s ``HttpRouter``) under ``/http``.

Handlers run as actions with the caller's verified identity (from ``Authorization: Bearer``).
A failing handler is a 500 whose details stay in the server log, like any function failure.
"""

from __future__ import annotations

import logging

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from ..auth import Auth
from ..logs import capture_logs
from ..runtime import Runtime
from ..wire.failures import request_id
from .credentials import authenticate, parse_authorization
from .errors import ApiError

__all__ = ["HttpActions"]

log = logging.getLogger("mainspring.server")
PREFIX = "/http"


class HttpActions:
    """The ASGI endpoint for ``/http/{path}``."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime

    async def handle(self, request: Request) -> Response:
        """Serve one request to a user route."""
        router = self.runtime.app.http
        path = "/" + request.path_params.get("path", "")
        if router is None:
            return ApiError(
                404,
                "NoHttpRouter",
                "this app declares no HTTP routes (backend/http.py: http = HttpRouter())",
            ).response()
        action, allowed = router.match(request.method, path)
        if request.method == "OPTIONS" and router.cors is not None and allowed:
            return router.cors.preflight(request, allowed)
        if action is None:
            if allowed:
                response: Response = ApiError(
                    405, "MethodNotAllowed", f"{path} allows {', '.join(allowed)}"
                ).response()
                response.headers["Allow"] = ", ".join(allowed)
                return response
            return ApiError(404, "NotFound", f"no HTTP route for {path}").response()
        try:
            credentials = parse_authorization(
                request.headers.get("authorization"), self.runtime.admin_key
            )
            identity = await authenticate(self.runtime, credentials)
        except ApiError as exc:
            return exc.response()
        await self.runtime.env.refresh_if_stale()
        try:
            with capture_logs(f"http {request.method} {path}"):
                response = await action(self.runtime.action_ctx(None, Auth(identity)), request)
        except Exception:
            rid = request_id()
            log.exception("[Request ID: %s] HTTP action %s %s failed", rid, request.method, path)
            response = JSONResponse(
                {"code": "ServerError", "message": f"[Request ID: {rid}] Server Error"}, 500
            )
        if not isinstance(response, Response):
            rid = request_id()
            log.error("[Request ID: %s] %s returned %r, not a Response", rid, path, response)
            response = JSONResponse(
                {"code": "ServerError", "message": f"[Request ID: {rid}] Server Error"}, 500
            )
        return router.cors.apply(request, response) if router.cors else response
