"""The functions API: ``POST /api/query|mutation|action|function`` and ``/api/run/...``.

The wire format is Convex's, so the official clients work unchanged::

    request   {"path": "messages:list", "format": "convex_encoded_json", "args": [{...}]}
    200       {"status": "success", "value": <value>, "logLines": [...]}
    560       {"status": "error", "errorMessage": "...", "errorData"?: <value>, "logLines": [...]}
    4xx       {"code": "...", "message": "..."}   the request was refused; nothing ran

A 560 means the function ran and failed. ``AppError`` data reaches the client; a framework
error raised while running (a bad document, a nested call to a missing function) reaches it
with its message; any other exception is a bug in the app, so the client only sees a request
id and the traceback goes to the ``mainspring.server`` log under the same id.
"""

from __future__ import annotations

import json
import logging
from typing import Any, cast

from starlette.requests import Request
from starlette.responses import Response

from .. import values
from ..errors import (
    ArgumentValidationError,
    FunctionNotFoundError,
    ValidationError,
)
from ..functions import FunctionDefinition, Kind, parse_path
from ..logs import capture_logs
from ..runtime import Runtime
from ..wire.encoding import FORMATS, Format, encode, encode_value
from ..wire.failures import describe_failure
from .body import check_content_type, read_json
from .credentials import Credentials, authenticate, parse_authorization
from .errors import ApiError, api_response

__all__ = ["FunctionApi", "UDF_FAILED"]

log = logging.getLogger("mainspring.server")

UDF_FAILED = 560
"""Convex's status for "the function ran and raised" (the clients look for exactly this)."""

_DEFAULT_FORMAT: Format = "json"  # what Convex's HTTP API assumes when "format" is absent


class FunctionApi:
    """Endpoints calling ``runtime``'s functions; one instance per app."""

    def __init__(self, runtime: Runtime, max_body_bytes: int) -> None:
        self.runtime = runtime
        self.max_body_bytes = max_body_bytes

    # -- endpoints ----------------------------------------------------------------------------

    async def query(self, request: Request) -> Response:
        """``POST /api/query``."""
        return await self._endpoint(request, "query")

    async def mutation(self, request: Request) -> Response:
        """``POST /api/mutation``."""
        return await self._endpoint(request, "mutation")

    async def action(self, request: Request) -> Response:
        """``POST /api/action``."""
        return await self._endpoint(request, "action")

    async def function(self, request: Request) -> Response:
        """``POST /api/function``: any kind; ``args`` is the object itself."""
        return await self._endpoint(request, None)

    async def run(self, request: Request) -> Response:
        """``GET|POST /api/run/{module path}/{function}`` (Convex's REST-style call).

        POST takes ``{"args": {...}, "format": ...}`` (an empty body means no arguments); GET
        takes ``?args=<JSON>&format=...``.
        """
        try:
            path = _path_from_url(request.path_params["identifier"])
            if request.method in ("GET", "HEAD"):
                raw_args = request.query_params.get("args")
                try:
                    args = {} if raw_args is None else json.loads(raw_args)
                except (ValueError, RecursionError):
                    raise ApiError(400, "BadJsonBody", "?args= must be a JSON object") from None
                body: dict[str, Any] = {"args": args}
                if "format" in request.query_params:
                    body["format"] = request.query_params["format"]
            elif request.headers.get("content-length") == "0":
                body = {}
            else:
                check_content_type(request)
                body = _as_object(await read_json(request, self.max_body_bytes))
            return await self._call(request, {**body, "path": path}, None)
        except ApiError as exc:
            return exc.response()

    async def not_supported(self, request: Request) -> Response:
        """``/api/query_ts`` and ``/api/query_at_ts``: ConvexHttpClient's consistentQuery."""
        return ApiError(
            501,
            "NotSupported",
            "consistent queries at a past timestamp (/api/query_ts, /api/query_at_ts) are not "
            "supported by Mainspring yet; use query()",
        ).response()

    # -- one call -----------------------------------------------------------------------------

    async def _endpoint(self, request: Request, kind: Kind | None) -> Response:
        try:
            check_content_type(request)
            body = _as_object(await read_json(request, self.max_body_bytes))
            return await self._call(request, body, kind)
        except ApiError as exc:
            return exc.response()

    async def _call(self, request: Request, body: dict[str, Any], kind: Kind | None) -> Response:
        credentials = parse_authorization(
            request.headers.get("authorization"), self.runtime.admin_key
        )
        fmt = _format(body.get("format", _DEFAULT_FORMAT))
        if body.get("componentPath"):
            raise ApiError(400, "BadRequest", "components are not supported (componentPath)")
        definition = self._lookup(body.get("path"), credentials.admin)
        path = definition.path or definition.label
        if kind is not None and definition.kind != kind:
            raise ApiError(
                400,
                "WrongFunctionKind",
                f"{path} is a {definition.kind}; call it at /api/{definition.kind}, "
                f"not /api/{kind}",
            )
        args = _args(body.get("args", _NO_ARGS), wrapped=kind is not None)
        return await self._execute(definition, path, args, fmt, credentials)

    def _lookup(self, path: Any, admin: bool) -> FunctionDefinition:
        if not isinstance(path, str) or not path:
            raise ApiError(400, "InvalidPath", 'the body needs "path": "module:function"')
        try:
            return self.runtime.registry.lookup(path, allow_internal=admin)
        except FunctionNotFoundError as exc:
            parse_error = _path_error(path)
            if parse_error is not None:
                raise ApiError(400, "InvalidPath", parse_error) from None
            # Internal functions without the admin key land here too: existence is not revealed.
            raise ApiError(404, "FunctionNotFound", str(exc)) from None

    async def _execute(
        self,
        definition: FunctionDefinition,
        path: str,
        args: dict[str, Any],
        fmt: Format,
        credentials: Credentials,
    ) -> Response:
        identity = await authenticate(self.runtime, credentials)
        # Collect here rather than from the CallResult so that failed calls keep their lines
        # (the runtime's own capture joins this collector). Our own logging happens after the
        # block, or it would be captured into the function's lines too.
        with capture_logs(definition.label) as logs:
            try:
                result = await self.runtime.run(
                    path, args, kind=definition.kind, identity=identity, admin=credentials.admin
                )
                value = encode_value(result.value, fmt)
            except ArgumentValidationError as exc:
                raise ApiError(400, "InvalidArguments", str(exc)) from None
            except Exception as exc:
                failure = exc
            else:
                return _success(value, logs.lines)
        return _failure(describe_failure(failure, definition.label, fmt).fields(), logs.lines)


_NO_ARGS: dict[str, Any] = {}


def _as_object(body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise ApiError(400, "BadJsonBody", "the request body must be a JSON object")
    return body


def _path_error(path: str) -> str | None:
    """Why ``path`` is not a function path at all, or None if it is one (then: not found)."""
    try:
        parse_path(path)
    except FunctionNotFoundError as exc:
        return str(exc)
    return None


def _path_from_url(identifier: str) -> str:
    # /api/run/jobs/handlers/send_email names jobs/handlers:send_email.
    if ":" in identifier:
        return identifier
    module, _, name = identifier.strip("/").rpartition("/")
    return f"{module}:{name}" if module else name


def _format(fmt: Any) -> Format:
    if not isinstance(fmt, str) or fmt not in FORMATS:
        raise ApiError(
            400, "UnsupportedFormat", f'unknown format {fmt!r}: use "convex_encoded_json" or "json"'
        )
    return cast(Format, fmt)


def _args(raw: Any, *, wrapped: bool) -> dict[str, Any]:
    # /api/query|mutation|action take [args] (the clients) or args (Convex's curl examples);
    # /api/function and /api/run take args but tolerate [args] too.
    if isinstance(raw, list) and len(raw) == 1:
        raw = raw[0]
    if not isinstance(raw, dict):
        expected = "[{...}] or {...}" if wrapped else "{...}"
        raise ApiError(400, "InvalidArguments", f'"args" must be an object: {expected}')
    try:
        decoded: dict[str, Any] = values.from_json(raw, "args")
    except ValidationError as exc:
        raise ApiError(400, "InvalidArguments", str(exc)) from None
    except RecursionError:
        raise ApiError(400, "InvalidArguments", "args are nested too deeply") from None
    return decoded


def _success(value: Any, log_lines: list[str]) -> Response:
    return api_response(encode({"status": "success", "value": value, "logLines": log_lines}))


def _failure(fields: dict[str, Any], log_lines: list[str]) -> Response:
    return api_response(encode({"status": "error", **fields, "logLines": log_lines}), UDF_FAILED)
