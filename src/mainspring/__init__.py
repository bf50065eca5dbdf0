"""Mainspring: queries, mutations and actions over a transactional document database."""

from __future__ import annotations

from .auth import Auth, UserIdentity
from .client import AsyncClient, Client
from .clock import Clock, SystemClock, VirtualClock
from .context import ActionCtx, MutationCtx, QueryCtx
from .crons.jobs import CronJobs
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
    NonRetryableError,
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
from .pagination import PaginationOptions, PaginationResult
from .scheduling.jobs import ScheduledFunctionId
from .schema import Schema, Table
from .workpool import RetryPolicy, WorkId, Workpool, run_with_retries

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
    "CronJobs",
    "DatabaseError",
    "DocumentNotFoundError",
    "FunctionNotFoundError",
    "FunctionReference",
    "HttpAction",
    "HttpRouter",
    "Id",
    "MainspringError",
    "MutationCtx",
    "NonRetryableError",
    "NotAllowedError",
    "PaginationOptions",
    "PaginationResult",
    "QueryCtx",
    "RetryPolicy",
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
    "WorkId",
    "Workpool",
    "action",
    "api",
    "http_action",
    "internal",
    "internal_action",
    "internal_mutation",
    "internal_query",
    "mutation",
    "query",
    "run_with_retries",
]
