"""Convex's sync protocol on the wire: parsing client messages, building server ones.

Every message is one JSON object in one text frame. Client messages are checked strictly
here — a wrong field type or an unknown ``type`` raises :class:`ProtocolError`, which closes
that one connection with the reason — so the session logic only sees well-formed values.
Field names and encodings follow the official client (``convex`` 1.48.0); see
``convex-sync-protocol.md`` in the design documents.
"""

from __future__ import annotations

import base64
import json
import struct
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

__all__ = [
    "Action",
    "Add",
    "Authenticate",
    "ClientMessage",
    "Connect",
    "Event",
    "ModifyQuerySet",
    "Mutation",
    "ProtocolError",
    "Remove",
    "StateVersion",
    "canonical_path",
    "decode_ts",
    "encode_ts",
    "parse_client_message",
]

_U32_MAX = 2**32 - 1


class ProtocolError(Exception):
    """A client message that breaks the protocol; the connection is closed with this text."""


def encode_ts(ts: int) -> str:
    """A u64 timestamp as the client expects it: base64 of 8 little-endian bytes."""
    return base64.b64encode(struct.pack("<Q", ts)).decode("ascii")


def decode_ts(text: Any, field: str = "ts") -> int:
    """The u64 in an encoded timestamp; ProtocolError naming ``field`` if it is not one."""
    if not isinstance(text, str):
        raise ProtocolError(f"{field} must be a base64 string, got {type(text).__name__}")
    try:
        raw = base64.b64decode(text.replace("-", "+").replace("_", "/"), validate=True)
    except ValueError:
        raise ProtocolError(f"{field} is not base64: {text[:40]!r}") from None
    if len(raw) != 8:
        raise ProtocolError(f"{field} must encode 8 bytes, got {len(raw)}")
    value: int = struct.unpack("<Q", raw)[0]
    return value


def canonical_path(udf_path: str) -> str:
    """``module:function`` as the client canonicalises query paths (mutations come raw)."""
    module, colon, name = udf_path.partition(":")
    if module.endswith(".js"):
        module = module[:-3]
    return f"{module}:{name}" if colon else f"{module}:default"


@dataclass(frozen=True, slots=True)
class StateVersion:
    """Where a client's view stands: query-set version, identity version, snapshot ts."""

    query_set: int
    identity: int
    ts: int

    def to_json(self) -> dict[str, Any]:
        """The wire form ``{"querySet", "identity", "ts"}``."""
        return {"querySet": self.query_set, "identity": self.identity, "ts": encode_ts(self.ts)}

    def to_text(self) -> str:
        """The wire form as JSON text (one per Transition per connection: kept cheap)."""
        return (
            f'{{"querySet":{self.query_set},"identity":{self.identity},'
            f'"ts":"{encode_ts(self.ts)}"}}'
        )


@dataclass(frozen=True, slots=True)
class Connect:
    """First message of every socket; ``max_observed_ts`` is absent on the first connect."""

    session_id: str
    connection_count: int
    last_close_reason: str | None
    max_observed_ts: int | None


@dataclass(frozen=True, slots=True)
class Add:
    """Subscribe ``query_id`` to a query; ``journal`` is sent back after a reconnect."""

    query_id: int
    udf_path: str
    args: dict[str, Any]
    journal: str | None


@dataclass(frozen=True, slots=True)
class Remove:
    """Unsubscribe ``query_id``."""

    query_id: int


@dataclass(frozen=True, slots=True)
class ModifyQuerySet:
    """Changes to the live query set, moving its version from ``base`` to ``new``."""

    base_version: int
    new_version: int
    modifications: tuple[Add | Remove, ...]


@dataclass(frozen=True, slots=True)
class Mutation:
    """Run a mutation; answered by a MutationResponse with the same ``request_id``."""

    request_id: int
    udf_path: str
    args: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Action:
    """Run an action; answered by an ActionResponse with the same ``request_id``."""

    request_id: int
    udf_path: str
    args: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Authenticate:
    """Change the connection's identity: a user token, or none (logout)."""

    base_version: int
    token_type: Literal["User", "Admin", "None"]
    value: str | None


@dataclass(frozen=True, slots=True)
class Event:
    """Client telemetry; ignored."""

    event_type: str


ClientMessage = Connect | ModifyQuerySet | Mutation | Action | Authenticate | Event


def parse_client_message(text: str | bytes) -> ClientMessage:
    """One client frame as a message; ProtocolError saying what is wrong otherwise."""
    try:
        data = json.loads(text)
    except (ValueError, RecursionError):
        raise ProtocolError("the message is not valid JSON") from None
    if not isinstance(data, dict):
        raise ProtocolError("a message must be a JSON object")
    kind = data.get("type")
    parser = _PARSERS.get(kind) if isinstance(kind, str) else None
    if parser is None:
        raise ProtocolError(f"unknown message type {kind!r}")
    return parser(data)


def _u32(data: dict[str, Any], field: str, where: str) -> int:
    value = data.get(field)
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= _U32_MAX:
        raise ProtocolError(f"{where}.{field} must be a u32, got {value!r}"[:200])
    return value


def _string(data: dict[str, Any], field: str, where: str, *, optional: bool = False) -> Any:
    value = data.get(field)
    if value is None and optional:
        return None
    if not isinstance(value, str):
        raise ProtocolError(f"{where}.{field} must be a string, got {type(value).__name__}")
    return value


def _args(data: dict[str, Any], where: str) -> dict[str, Any]:
    args = data.get("args")
    # The client always wraps the arguments object in a one-element array.
    if not isinstance(args, list) or len(args) != 1 or not isinstance(args[0], dict):
        raise ProtocolError(f"{where}.args must be a one-element array holding an object")
    if data.get("componentPath"):
        raise ProtocolError(f"{where}.componentPath: components are not supported")
    return args[0]


def _connect(data: dict[str, Any]) -> Connect:
    observed = data.get("maxObservedTimestamp")
    return Connect(
        session_id=_string(data, "sessionId", "Connect"),
        connection_count=_u32(data, "connectionCount", "Connect"),
        last_close_reason=_string(data, "lastCloseReason", "Connect", optional=True),
        max_observed_ts=None if observed is None else decode_ts(observed, "maxObservedTimestamp"),
    )


def _modification(data: Any) -> Add | Remove:
    if not isinstance(data, dict):
        raise ProtocolError("ModifyQuerySet.modifications must hold objects")
    kind = data.get("type")
    if kind == "Add":
        return Add(
            query_id=_u32(data, "queryId", "Add"),
            udf_path=_string(data, "udfPath", "Add"),
            args=_args(data, "Add"),
            journal=_string(data, "journal", "Add", optional=True),
        )
    if kind == "Remove":
        return Remove(query_id=_u32(data, "queryId", "Remove"))
    raise ProtocolError(f"unknown query set modification {kind!r}")


def _modify(data: dict[str, Any]) -> ModifyQuerySet:
    modifications = data.get("modifications")
    if not isinstance(modifications, list):
        raise ProtocolError("ModifyQuerySet.modifications must be an array")
    return ModifyQuerySet(
        base_version=_u32(data, "baseVersion", "ModifyQuerySet"),
        new_version=_u32(data, "newVersion", "ModifyQuerySet"),
        modifications=tuple(_modification(m) for m in modifications),
    )


def _mutation(data: dict[str, Any]) -> Mutation:
    return Mutation(
        request_id=_u32(data, "requestId", "Mutation"),
        udf_path=_string(data, "udfPath", "Mutation"),
        args=_args(data, "Mutation"),
    )


def _action(data: dict[str, Any]) -> Action:
    return Action(
        request_id=_u32(data, "requestId", "Action"),
        udf_path=_string(data, "udfPath", "Action"),
        args=_args(data, "Action"),
    )


def _authenticate(data: dict[str, Any]) -> Authenticate:
    token_type = data.get("tokenType")
    if token_type not in ("User", "Admin", "None"):
        raise ProtocolError(f"Authenticate.tokenType must be User, Admin or None: {token_type!r}")
    value = None if token_type == "None" else _string(data, "value", "Authenticate")
    return Authenticate(
        base_version=_u32(data, "baseVersion", "Authenticate"),
        token_type=token_type,
        value=value,
    )


def _event(data: dict[str, Any]) -> Event:
    event_type = data.get("eventType")
    return Event(event_type if isinstance(event_type, str) else "")


_PARSERS: dict[str, Callable[[dict[str, Any]], ClientMessage]] = {
    "Connect": _connect,
    "ModifyQuerySet": _modify,
    "Mutation": _mutation,
    "Action": _action,
    "Authenticate": _authenticate,
    "Event": _event,
}
