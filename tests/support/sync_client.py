"""A bare sync-protocol client over ``websockets``, for tests that check the wire itself."""

from __future__ import annotations

import asyncio
import base64
import json
import struct
import uuid
from typing import Any

from websockets.asyncio.client import ClientConnection, connect

__all__ = ["SyncClient", "decode_ts", "ws_url"]


def ws_url(http_url: str, version: str = "1.48.0") -> str:
    """The socket URL the official client derives from a deployment URL."""
    return http_url.replace("http://", "ws://") + f"/api/{version}/sync"


def decode_ts(text: str) -> int:
    """An EncodedU64 as an int."""
    value: int = struct.unpack("<Q", base64.b64decode(text))[0]
    return value


class SyncClient:
    """One connection: send messages, receive them as dicts, track versions like a client."""

    def __init__(self, socket: ClientConnection, session_id: str) -> None:
        self.socket = socket
        self.session_id = session_id
        self.query_set = 0
        self.identity = 0
        self.version: dict[str, Any] = {"querySet": 0, "identity": 0, "ts": "AAAAAAAAAAA="}

    @classmethod
    async def open(
        cls,
        http_url: str,
        *,
        session_id: str | None = None,
        connection_count: int = 0,
        max_observed: str | None = None,
        max_size: int | None = 2**24,
    ) -> SyncClient:
        """Connect and send Connect."""
        socket = await connect(ws_url(http_url), max_size=max_size)
        client = cls(socket, session_id or str(uuid.uuid4()))
        message: dict[str, Any] = {
            "type": "Connect",
            "sessionId": client.session_id,
            "connectionCount": connection_count,
            "lastCloseReason": "InitialConnect" if connection_count == 0 else "test",
            "clientTs": 0,
        }
        if max_observed is not None:
            message["maxObservedTimestamp"] = max_observed
        await client.send(message)
        return client

    async def send(self, message: dict[str, Any] | str) -> None:
        """Send one frame (a dict as JSON, a str as it is)."""
        await self.socket.send(message if isinstance(message, str) else json.dumps(message))

    async def recv(self, wait: float = 5.0) -> dict[str, Any]:
        """The next message; Transitions are checked against the tracked version."""
        message: dict[str, Any] = json.loads(await asyncio.wait_for(self.socket.recv(), wait))
        if message["type"] == "Transition":
            assert message["startVersion"] == self.version, (message, self.version)
            assert decode_ts(message["endVersion"]["ts"]) >= decode_ts(self.version["ts"])
            self.version = message["endVersion"]
        return message

    async def recv_type(self, kind: str, wait: float = 5.0) -> dict[str, Any]:
        """The next message of type ``kind``, skipping Pings."""
        while True:
            message = await self.recv(wait)
            if message["type"] == "Ping":
                continue
            assert message["type"] == kind, message
            return message

    async def silent(self, seconds: float) -> None:
        """Assert that nothing but Pings arrives for ``seconds``."""
        try:
            message = await self.recv(seconds)
        except TimeoutError:
            return
        assert message["type"] == "Ping", f"expected silence, got {message}"

    async def add(
        self,
        query_id: int,
        path: str,
        args: dict[str, Any] | None = None,
        journal: str | None = None,
    ) -> dict[str, Any]:
        """Subscribe and return the Transition answering it."""
        modification: dict[str, Any] = {
            "type": "Add",
            "queryId": query_id,
            "udfPath": path,
            "args": [args or {}],
        }
        if journal is not None:
            modification["journal"] = journal
        await self.modify([modification])
        return await self.recv_type("Transition")

    async def modify(self, modifications: list[dict[str, Any]]) -> None:
        """Send ModifyQuerySet from the current query-set version."""
        await self.send(
            {
                "type": "ModifyQuerySet",
                "baseVersion": self.query_set,
                "newVersion": self.query_set + 1,
                "modifications": modifications,
            }
        )
        self.query_set += 1

    async def mutation(self, request_id: int, path: str, args: dict[str, Any]) -> None:
        """Send a Mutation."""
        await self.send(
            {"type": "Mutation", "requestId": request_id, "udfPath": path, "args": [args]}
        )

    async def authenticate(self, token: str | None) -> None:
        """Send Authenticate (a User token, or None to log out)."""
        message: dict[str, Any] = {"type": "Authenticate", "baseVersion": self.identity}
        if token is None:
            message["tokenType"] = "None"
        else:
            message.update(tokenType="User", value=token)
        await self.send(message)
        self.identity += 1

    async def close(self) -> None:
        """Close the socket."""
        await self.socket.close()
