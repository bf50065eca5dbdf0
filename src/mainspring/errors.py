"""The one error tree of Mainspring.

::

    MainspringError
    ├── AppError                 raised by user code; its ``data`` reaches the client
    │   └── NonRetryableError    a failure that retrying cannot fix (work pools stop retrying)
    ├── ValidationError          an argument, document or return value is not what was declared
    │   └── ArgumentValidationError  the arguments of a top-level call (HTTP, CLI) are invalid
    ├── SchemaError              a schema or function declaration is itself wrong
    ├── FunctionNotFoundError    no public (or no internal, for admins) function at that path
    ├── NotAllowedError          the caller may not do this (internal function, wrong context)
    ├── AuthenticationError      a token was presented but is not valid (HTTP 401)
    ├── DocumentNotFoundError    patch / replace / delete of an id that does not exist
    ├── ConflictError            a mutation kept conflicting and its retries ran out
    ├── DatabaseError            the database failed in a way user code cannot fix
    ├── ConfigurationError       bad settings, missing app folder, unreachable database URL
    └── ServerError              (client side) the server failed with an internal error

Driver errors (``sqlite3``, ``psycopg``) never escape: they are translated with ``raise … from``.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "AppError",
    "ArgumentValidationError",
    "AuthenticationError",
    "ConfigurationError",
    "ConflictError",
    "DatabaseError",
    "DocumentNotFoundError",
    "FunctionNotFoundError",
    "MainspringError",
    "NonRetryableError",
    "NotAllowedError",
    "SchemaError",
    "ServerError",
    "ValidationError",
]


class MainspringError(Exception):
    """Base class of every error Mainspring raises."""


class AppError(MainspringError):
    """An error a function raises on purpose; Convex calls it ``ConvexError``.

    ``data`` may be a string or any Convex value; it is sent to the client as ``errorData``
    and raised there again as an :class:`AppError` carrying the same data.
    """

    def __init__(self, data: Any = None) -> None:
        self.data = data
        super().__init__(data if isinstance(data, str) else repr(data))


class NonRetryableError(AppError):
    """Raised by work (a work pool's action, or one run by ``run_with_retries``) whose failure
    retrying cannot fix: the item fails at once, whatever attempts its retry policy has left."""


class ValidationError(MainspringError):
    """A value did not match its declared type.

    The message names where (function argument, table field, return value), what was
    expected and what was received.
    """


class ArgumentValidationError(ValidationError):
    """The arguments of a top-level call did not match the function's signature.

    Raised before the function runs, so servers answer it as a bad request (HTTP 400) rather
    than as a failure of the function; a ValidationError raised while a function runs (a bad
    document, a nested call with bad arguments) stays a plain :class:`ValidationError`.
    """


class SchemaError(MainspringError):
    """A schema, index or function declaration is invalid."""


class FunctionNotFoundError(MainspringError):
    """No function is registered at the requested path (or it is not visible to the caller)."""


class NotAllowedError(MainspringError):
    """The caller is not allowed to do this here."""


class AuthenticationError(MainspringError):
    """A token was presented but is not valid: bad signature, expired, unknown issuer..."""


class DocumentNotFoundError(MainspringError):
    """A write named a document id that does not exist."""


class ConflictError(MainspringError):
    """A mutation conflicted with concurrent writes more times than its retry budget allows."""


class DatabaseError(MainspringError):
    """The database failed (unreachable, corrupt, disk full...)."""


class ConfigurationError(MainspringError):
    """Settings are missing or invalid."""


class ServerError(MainspringError):
    """Raised by the client when the server reports an internal error or an unexpected response."""

    def __init__(self, message: str, status_code: int | None = None) -> None:
        self.status_code = status_code
        super().__init__(message)
