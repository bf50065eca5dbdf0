"""``GET /api/<client version>/sync`` and ``/api/sync``: the WebSocket of the official clients.

The endpoint owns the transport: it accepts the upgrade, reads text frames, hands parsed
messages to a :class:`SyncSession`, serialises sends, and pings while idle. A message that
breaks the protocol (not JSON, an unknown type, a wrong version, a frame over the limit)
closes that connection alone: a ``FatalError`` naming the problem, then a close frame with
the same reason (code 1008, or 1009 for a frame that is too big).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re

from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState

from . import messages
from .hub import SyncHub
from .protocol import ProtocolError, parse_client_message
from .session import AuthRejected, SyncSession

__all__ = ["MAX_FRAME_BYTES", "PING_AFTER_S", "SyncEndpoint"]

log = logging.getLogger("mainspring.sync")

#: The largest client message accepted.
MAX_FRAME_BYTES = 8 * 1024 * 1024
#: A Ping goes out after this long with nothing sent (the client gives up after 60 s).
PING_AFTER_S = 15.0
_VERSION = re.compile(r"^(\d+)\.(\d+)\.(\d+)(?:[-+].*)?$")
#: npm clients older than this speak an older protocol (as Convex's deprecation list says).
_OLDEST = (0, 19, 1)
_CLOSE_REASON_BYTES = 120


def _version_error(version: str | None) -> str | None:
    if version is None:
        return None
    match = _VERSION.match(version)
    if match is None:
        return f"InvalidVersion: {version!r} is not a client version (x.y.z)"
    if tuple(int(part) for part in match.groups()) < _OLDEST:
        return f"ClientVersionUnsupported: convex {version} is too old; upgrade to 0.19.1 or later"
    return None


class SyncEndpoint:
    """The ASGI endpoint of one deployment's socket."""

    def __init__(self, hub: SyncHub) -> None:
        self.hub = hub

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        websocket = WebSocket(scope, receive, send)
        error = _version_error(scope.get("path_params", {}).get("version"))
        if error is not None:
            await _refuse(websocket, error)
            return
        await websocket.accept()
        connection = _Connection(self.hub, websocket)
        self.hub.connected()
        try:
            await connection.serve()
        finally:
            self.hub.disconnected()


async def _refuse(websocket: WebSocket, error: str) -> None:
    # Before the upgrade: a 400 where the server supports denial responses, else a close.
    if "websocket.http.response" in websocket.scope.get("extensions", {}):
        body = error.encode()
        await websocket.send(
            {
                "type": "websocket.http.response.start",
                "status": 400,
                "headers": [
                    (b"content-type", b"text/plain"),
                    (b"content-length", b"%d" % len(body)),
                ],
            }
        )
        await websocket.send({"type": "websocket.http.response.body", "body": body})
    else:
        await websocket.close(code=1008, reason=error[:_CLOSE_REASON_BYTES])


class _Connection:
    def __init__(self, hub: SyncHub, websocket: WebSocket) -> None:
        self._websocket = websocket
        self._lock = asyncio.Lock()
        self._last_sent = asyncio.get_running_loop().time()
        self._session = SyncSession(hub, self._send)

    async def _send(self, text: str) -> None:
        async with self._lock:
            if self._websocket.application_state != WebSocketState.CONNECTED:
                raise ConnectionError("the socket is closed")
            try:
                await self._websocket.send_text(text)
            except (WebSocketDisconnect, OSError) as exc:
                raise ConnectionError("the client went away") from exc
            self._last_sent = asyncio.get_running_loop().time()

    async def serve(self) -> None:
        self._session.start()
        pinger = asyncio.create_task(self._ping_loop(), name="sync ping")
        try:
            await self._read_loop()
        finally:
            pinger.cancel()
            await asyncio.gather(pinger, return_exceptions=True)
            await self._session.close()

    async def _read_loop(self) -> None:
        while True:
            try:
                event = await self._websocket.receive()
            except (WebSocketDisconnect, RuntimeError):
                return
            if event["type"] == "websocket.disconnect":
                return
            text = event.get("text")
            if text is None:
                raw = event.get("bytes") or b""
                await self._fail(f"binary frames are not part of the protocol ({len(raw)} bytes)")
                return
            if len(text) > MAX_FRAME_BYTES:
                await self._fail(
                    f"message of {len(text)} bytes is over the {MAX_FRAME_BYTES}-byte limit",
                    code=1009,
                )
                return
            try:
                await self._session.receive(parse_client_message(text))
            except ProtocolError as exc:
                await self._fail(str(exc))
                return
            except AuthRejected:
                await self._close(1000, "AuthError")
                return
            except ConnectionError:
                return

    async def _fail(self, error: str, code: int = 1008) -> None:
        log.info("closing a sync connection: %s", error)
        with contextlib.suppress(ConnectionError, RuntimeError):
            await self._send(messages.fatal_error(error))
        await self._close(code, error)

    async def _close(self, code: int, reason: str) -> None:
        async with self._lock:
            if self._websocket.application_state == WebSocketState.CONNECTED:
                with contextlib.suppress(RuntimeError):
                    reason_bytes = reason.encode()[:_CLOSE_REASON_BYTES]
                    await self._websocket.close(code, reason_bytes.decode(errors="ignore"))

    async def _ping_loop(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            idle = loop.time() - self._last_sent
            if idle >= PING_AFTER_S:
                try:
                    await self._send(messages.ping())
                except (ConnectionError, RuntimeError):
                    return
                idle = 0.0
            await asyncio.sleep(PING_AFTER_S - idle)
