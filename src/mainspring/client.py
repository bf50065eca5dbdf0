"""The Python client: call a deployment's functions over HTTP.

::

    client = Client("http://127.0.0.1:3210", auth="<jwt>")
    file_id = client.mutation("files:save_file", {"name": "a.txt", ...})

Function errors raised with :class:`AppError` on the server are raised here again with the
same ``data``; other failures raise :class:`ServerError`.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from types import TracebackType
from typing import Any, Literal

import httpx

from . import values
from .errors import (
    AppError,
    FunctionNotFoundError,
    NotAllowedError,
    ServerError,
    ValidationError,
)
from .functions import FunctionDefinition, FunctionReference, as_reference

__all__ = ["AsyncClient", "Client"]

_Kind = Literal["query", "mutation", "action", "function"]
LogLinesHandler = Callable[[list[str]], None]


def _path(function: Any) -> str:
    ref = as_reference(function)
    if isinstance(ref, FunctionDefinition):
        if ref.path is None:
            raise FunctionNotFoundError(f"{ref.label} has no path; pass 'module:function'")
        return ref.path
    assert isinstance(ref, FunctionReference)
    return ref.path


def _request(function: Any, args: dict[str, Any] | None) -> dict[str, Any]:
    return {
        "path": _path(function),
        "format": "convex_encoded_json",
        "args": [values.to_json(args or {}, "args")],
    }


def _headers(auth: str | None, admin_key: str | None) -> dict[str, str]:
    headers = {"Content-Type": "application/json", "Convex-Client": "python-mainspring-0.1.0"}
    if admin_key:
        headers["Authorization"] = f"Convex {admin_key}"
    elif auth:
        headers["Authorization"] = f"Bearer {auth}"
    return headers


def _result(response: httpx.Response, on_log_lines: LogLinesHandler | None = None) -> Any:
    try:
        body = response.json()
    except json.JSONDecodeError:
        body = None
    if on_log_lines is not None and isinstance(body, dict):
        lines = body.get("logLines")
        if isinstance(lines, list) and lines:
            on_log_lines([str(line) for line in lines])
    if response.status_code == 200 and isinstance(body, dict) and body.get("status") == "success":
        return values.from_json(body.get("value"))
    if response.status_code == 560 and isinstance(body, dict):
        if "errorData" in body:
            raise AppError(values.from_json(body["errorData"]))
        raise ServerError(str(body.get("errorMessage", "Server Error")), 560)
    message = body.get("message") if isinstance(body, dict) else response.text
    if response.status_code == 404:
        raise FunctionNotFoundError(str(message))
    if response.status_code == 400:
        code = body.get("code") if isinstance(body, dict) else None
        if code == "WrongFunctionKind":
            raise NotAllowedError(str(message))  # as the runtime (and TestApp) raise it
        raise ValidationError(str(message))
    raise ServerError(f"HTTP {response.status_code}: {message}", response.status_code)


class Client:
    """A synchronous client. ``auth`` is a user token; ``admin_key`` reaches internal functions."""

    def __init__(
        self,
        url: str,
        *,
        auth: str | None = None,
        admin_key: str | None = None,
        timeout: float = 60.0,
        on_log_lines: LogLinesHandler | None = None,
    ) -> None:
        self.url = url.rstrip("/")
        #: Called with the log lines a function printed (Convex's client logs them too).
        self.on_log_lines = on_log_lines
        self._http = httpx.Client(
            base_url=self.url, timeout=timeout, headers=_headers(auth, admin_key)
        )

    def set_auth(self, token: str | None) -> None:
        """Use ``token`` for later calls (None: unauthenticated)."""
        self._http.headers.pop("Authorization", None)
        if token:
            self._http.headers["Authorization"] = f"Bearer {token}"

    def _call(self, kind: _Kind, function: Any, args: dict[str, Any] | None) -> Any:
        try:
            response = self._http.post(f"/api/{kind}", json=_request(function, args))
        except httpx.HTTPError as exc:
            raise ServerError(f"cannot reach {self.url}: {exc}") from exc
        return _result(response, self.on_log_lines)

    def query(self, function: Any, args: dict[str, Any] | None = None) -> Any:
        """Run a query."""
        return self._call("query", function, args)

    def mutation(self, function: Any, args: dict[str, Any] | None = None) -> Any:
        """Run a mutation."""
        return self._call("mutation", function, args)

    def action(self, function: Any, args: dict[str, Any] | None = None) -> Any:
        """Run an action."""
        return self._call("action", function, args)

    def function(self, function: Any, args: dict[str, Any] | None = None) -> Any:
        """Run a query, mutation or action, whichever it is (``/api/function``)."""
        return self._call("function", function, args)

    def close(self) -> None:
        """Close the connection pool."""
        self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


class AsyncClient:
    """The asyncio twin of :class:`Client`."""

    def __init__(
        self,
        url: str,
        *,
        auth: str | None = None,
        admin_key: str | None = None,
        timeout: float = 60.0,
        on_log_lines: LogLinesHandler | None = None,
    ) -> None:
        self.url = url.rstrip("/")
        #: Called with the log lines a function printed (Convex's client logs them too).
        self.on_log_lines = on_log_lines
        self._http = httpx.AsyncClient(
            base_url=self.url, timeout=timeout, headers=_headers(auth, admin_key)
        )

    def set_auth(self, token: str | None) -> None:
        """Use ``token`` for later calls (None: unauthenticated)."""
        self._http.headers.pop("Authorization", None)
        if token:
            self._http.headers["Authorization"] = f"Bearer {token}"

    async def _call(self, kind: _Kind, function: Any, args: dict[str, Any] | None) -> Any:
        try:
            response = await self._http.post(f"/api/{kind}", json=_request(function, args))
        except httpx.HTTPError as exc:
            raise ServerError(f"cannot reach {self.url}: {exc}") from exc
        return _result(response, self.on_log_lines)

    async def query(self, function: Any, args: dict[str, Any] | None = None) -> Any:
        """Run a query."""
        return await self._call("query", function, args)

    async def mutation(self, function: Any, args: dict[str, Any] | None = None) -> Any:
        """Run a mutation."""
        return await self._call("mutation", function, args)

    async def action(self, function: Any, args: dict[str, Any] | None = None) -> Any:
        """Run an action."""
        return await self._call("action", function, args)

    async def function(self, function: Any, args: dict[str, Any] | None = None) -> Any:
        """Run a query, mutation or action, whichever it is (``/api/function``)."""
        return await self._call("function", function, args)

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._http.aclose()

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()
