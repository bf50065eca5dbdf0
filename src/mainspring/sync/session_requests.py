"""Exactly-once mutations over the socket: ``(sessionId, requestId)`` recorded in the commit.

After a reconnect the client resends every mutation it has not seen reflected, with its
original request id — including ones that did commit. Each socket mutation therefore
records its request, with its result, in ``_session_requests`` inside its own transaction;
a resent request finds the row and gets the stored result without running again. Rows are
kept for :data:`KEEP_MS` (a client that has been away longer has given up on them) and
pruned by every process serving the socket.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TypedDict, cast

from .. import values
from ..clock import Clock
from ..db.store import DocumentWriter

if TYPE_CHECKING:
    from ..kernel import Kernel, MutationBody, MutationWrapper

__all__ = ["KEEP_MS", "TABLE", "SessionRequestRow", "once", "prune"]

TABLE = "_session_requests"
_BY_REQUEST = "by_request"
#: How long a request's outcome is kept for resends.
KEEP_MS = 15 * 60_000.0
_PRUNE_BATCH = 500


class SessionRequestRow(TypedDict):
    """A ``_session_requests`` document: a client's mutation and its encoded result."""

    _id: str
    _creationTime: float
    sessionId: str
    requestId: int
    result: str
    at: float


def once(session_id: str, request_id: int, clock: Clock) -> MutationWrapper:
    """Wrap a mutation body so that request ``(session_id, request_id)`` runs at most once."""

    def wrap(body: MutationBody) -> MutationBody:
        async def recorded(writer: DocumentWriter) -> Any:
            prior = (
                await writer.system.query(TABLE)
                .with_index(
                    _BY_REQUEST, lambda q: q.eq("sessionId", session_id).eq("requestId", request_id)
                )
                .first()
            )
            if prior is not None:
                return values.loads(cast(SessionRequestRow, prior)["result"])
            result = await body(writer)
            await writer.system_writer().insert(
                TABLE,
                {
                    "sessionId": session_id,
                    "requestId": request_id,
                    "result": values.dumps(result, "mutation result"),
                    "at": clock.now_ms(),
                },
            )
            return result

        return recorded

    return wrap


async def prune(runtime: Kernel) -> int:
    """Delete requests older than :data:`KEEP_MS`; how many were deleted."""
    cutoff = runtime.clock.now_ms() - KEEP_MS

    async def body(writer: DocumentWriter) -> int:
        system = writer.system_writer()
        old = (
            await system.query(TABLE)
            .with_index("by_time", lambda q: q.lt("at", cutoff))
            .take(_PRUNE_BATCH)
        )
        for row in old:
            await system.delete(row["_id"])
        return len(old)

    total = 0
    while True:
        deleted = await runtime.transact(body, label="sync: prune session requests")
        total += deleted
        if deleted < _PRUNE_BATCH:
            return total
