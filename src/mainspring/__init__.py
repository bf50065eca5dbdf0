"""Mainspring: queries, mutations and actions over a transactional document database."""

from __future__ import annotations

from .auth import Auth, UserIdentity
from .client import AsyncClient, Client
from .clock import Clock, SystemClock, VirtualClock
from .context import ActionCtx, MutationCtx, QueryCtx
from .db.store import REMOVE
from .errors import (
    AppError,
    AuthenticationError,
    ConfigurationError,
    ConflictError,
    DatabaseError,
    DocumentNotFoundError,
    FunctionNotFoundError,
    MainspringError,
    NotAllowedError,
    SchemaError,
    ServerError,
    ValidationError,
)
from .functions import (
    FunctionReference,
    action,
    api,
    internal,
    internal_action,
    internal_mutation,
    internal_query,
    mutation,
    query,
)
from .http_router import Cors, HttpAction, HttpRouter, http_action
from .ids import Id, StorageId
from .scheduling.jobs import ScheduledFunctionId
from .schema import Schema, Table

__version__ = "0.1.0"

__all__ = [
    "REMOVE",
    "ActionCtx",
    "AppError",
    "AsyncClient",
    "Auth",
    "AuthenticationError",
    "Client",
    "Clock",
    "ConfigurationError",
    "ConflictError",
    "Cors",
    "DatabaseError",
    "DocumentNotFoundError",
    "FunctionNotFoundError",
    "FunctionReference",
    "HttpAction",
    "HttpRouter",
    "Id",
    "MainspringError",
    "MutationCtx",
    "NotAllowedError",
    "QueryCtx",
    "ScheduledFunctionId",
    "Schema",
    "SchemaError",
    "ServerError",
    "StorageId",
    "SystemClock",
    "Table",
    "UserIdentity",
    "ValidationError",
    "VirtualClock",
    "action",
    "api",
    "http_action",
    "internal",
    "internal_action",
    "internal_mutation",
    "internal_query",
    "mutation",
    "query",
]
