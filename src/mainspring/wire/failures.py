"""How a function that ran and failed is reported to its caller, over HTTP or the socket.

``AppError`` data reaches the client; a framework error raised while running (a bad
document, a nested call to a missing function) reaches it with its message; any other
exception is a bug in the app, so the client only sees a request id and the traceback goes
to the log under the same id. What a transport does with the :class:`Failure` (a 560
response, a ``QueryFailed`` or ``MutationResponse`` message) is its own business.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from typing import Any

from ..errors import (
    AppError,
    ConflictError,
    DocumentNotFoundError,
    FunctionNotFoundError,
    NotAllowedError,
    SchemaError,
    ValidationError,
)
from .encoding import Format, encode, encode_value

__all__ = ["Failure", "describe_failure", "request_id"]

# The server's log, as before the socket shared this code: logging set up to watch it (and
# the tests) keeps seeing every function failure, whichever transport reported it.
log = logging.getLogger("mainspring.server")

# Framework errors whose message helps the caller and reveals nothing they could not learn
# by calling: they are sent as they are. Everything else is hidden behind the request id.
_EXPOSED = (
    ValidationError,
    DocumentNotFoundError,
    FunctionNotFoundError,
    NotAllowedError,
    ConflictError,
    SchemaError,
)


def request_id() -> str:
    """A short id tying a client-visible error to its server log entry."""
    return uuid.uuid4().hex[:16]


@dataclass(frozen=True, slots=True)
class Failure:
    """What the caller is told: ``errorMessage`` and, for an AppError, ``errorData``
    (JSON-ready, in the caller's format); and how it was logged.

    ``request_id`` names the log entry the message points to (None: not logged, an
    AppError is the app's answer, not a fault); ``server_error`` is True when the log entry
    is an error with its traceback (a bug, hidden from the caller) rather than a warning.
    """

    message: str
    data: Any = None
    has_data: bool = False
    request_id: str | None = None
    server_error: bool = False

    def fields(self) -> dict[str, Any]:
        """``{"errorMessage": …}``, plus ``"errorData"`` when there is data."""
        fields: dict[str, Any] = {"errorMessage": self.message}
        if self.has_data:
            fields["errorData"] = self.data
        return fields


def describe_failure(exc: Exception, label: str, fmt: Format) -> Failure:
    """What the caller of ``label`` is told about ``exc`` (logging what it is not told)."""
    if isinstance(exc, AppError):
        try:
            data = encode_value(exc.data, fmt, "errorData")
        except ValidationError as bad:
            return _hidden(bad, label, "raised an AppError whose data is bad")
        # As ConvexError does: the message is the string, or the data as JSON.
        message = exc.data if isinstance(exc.data, str) else encode(data).decode()
        return Failure(message, data, True)
    if isinstance(exc, _EXPOSED):
        rid = request_id()
        log.warning("[Request ID: %s] %s failed: %s", rid, label, exc)
        return Failure(
            f"[Request ID: {rid}] Server Error\nUncaught {type(exc).__name__}: {exc}",
            request_id=rid,
        )
    return _hidden(exc, label, "raised an uncaught exception")


def _hidden(exc: Exception, label: str, what: str) -> Failure:
    rid = request_id()
    log.error("[Request ID: %s] %s %s", rid, label, what, exc_info=exc)
    return Failure(f"[Request ID: {rid}] Server Error", request_id=rid, server_error=True)
