"""Server messages of the sync protocol, as the JSON text sent in one frame.

A query result is encoded to convex JSON once (:class:`QueryOutcome`) and spliced into
every Transition that carries it: a commit that changes a query watched by a thousand
connections encodes its value once, not a thousand times.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from ..wire.encoding import dumps
from .protocol import StateVersion, encode_ts

__all__ = [
    "QueryOutcome",
    "action_response",
    "auth_error",
    "fatal_error",
    "mutation_failure",
    "mutation_success",
    "ping",
    "query_removed",
    "transition",
]


@dataclass(frozen=True, slots=True)
class QueryOutcome:
    """One run of a live query: its convex-JSON value (or error) and log lines, as text.

    ``body`` is the part of a QueryUpdated/QueryFailed modification after ``queryId``, so
    that equal outcomes compare equal and need no re-encoding per connection.
    """

    body: str

    @classmethod
    def success(cls, value_json: Any, log_lines: list[str], journal: str | None) -> QueryOutcome:
        """A result: ``value_json`` is the value already converted to convex JSON."""
        return cls(
            f'"type":"QueryUpdated","value":{dumps(value_json)},'
            f'"logLines":{dumps(log_lines)},"journal":{dumps(journal)}'
        )

    @classmethod
    def failure(
        cls,
        message: str,
        log_lines: list[str],
        journal: str | None,
        data: Any = None,
        *,
        has_data: bool = False,
    ) -> QueryOutcome:
        """An error; ``data`` (convex JSON) becomes ``errorData`` (a ConvexError's data)."""
        extra = f',"errorData":{dumps(data)}' if has_data else ""
        return cls(
            f'"type":"QueryFailed","errorMessage":{dumps(message)},'
            f'"logLines":{dumps(log_lines)},"journal":{dumps(journal)}{extra}'
        )

    def modification(self, query_id: int) -> str:
        """This outcome as a modification of query ``query_id``."""
        return f'{{"queryId":{query_id},{self.body}}}'


def query_removed(query_id: int) -> str:
    """The modification confirming that ``query_id`` was removed."""
    return f'{{"type":"QueryRemoved","queryId":{query_id}}}'


def transition(start: StateVersion, end: StateVersion, modifications: Iterable[str]) -> str:
    """A Transition from ``start`` to ``end`` applying ``modifications`` in order."""
    return (
        f'{{"type":"Transition","startVersion":{start.to_text()},'
        f'"endVersion":{end.to_text()},"modifications":[{",".join(modifications)}]}}'
    )


def mutation_success(request_id: int, result_json: Any, ts: int, log_lines: list[str]) -> str:
    """A mutation committed at ``ts`` with this (convex-JSON) result."""
    return dumps(
        {
            "type": "MutationResponse",
            "requestId": request_id,
            "success": True,
            "result": result_json,
            "ts": encode_ts(ts),
            "logLines": log_lines,
        }
    )


def mutation_failure(
    request_id: int, message: str, log_lines: list[str], data: Any = None, *, has_data: bool
) -> str:
    """A mutation that failed (nothing was committed)."""
    return _response("MutationResponse", request_id, False, message, log_lines, data, has_data)


def action_response(
    request_id: int,
    *,
    success: bool,
    result: Any,
    log_lines: list[str],
    data: Any = None,
    has_data: bool = False,
) -> str:
    """An action's outcome: ``result`` is its value (convex JSON) or error message."""
    return _response("ActionResponse", request_id, success, result, log_lines, data, has_data)


def _response(
    kind: str,
    request_id: int,
    success: bool,
    result: Any,
    log_lines: list[str],
    data: Any,
    has_data: bool,
) -> str:
    message: dict[str, Any] = {
        "type": kind,
        "requestId": request_id,
        "success": success,
        "result": result,
        "logLines": log_lines,
    }
    if has_data:
        message["errorData"] = data
    return dumps(message)


def auth_error(error: str, base_version: int, *, attempted: bool) -> str:
    """The token was refused (``attempted``) or expired while in use (not ``attempted``)."""
    return dumps(
        {
            "type": "AuthError",
            "error": error,
            "baseVersion": base_version,
            "authUpdateAttempted": attempted,
        }
    )


def fatal_error(error: str) -> str:
    """Protocol misuse: the client stops for good (no reconnect)."""
    return dumps({"type": "FatalError", "error": error})


def ping() -> str:
    """Keeps the client from reconnecting an idle socket (it gives up after 60 s)."""
    return '{"type":"Ping"}'
