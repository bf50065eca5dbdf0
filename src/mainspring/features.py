"""How a feature declares what it brings to a deployment: system tables, their indexes,
built-in functions, and wiring into other features.

Every feature package (storage, env, scheduling, crons, work pools, live queries) has a
``feature`` module with one :class:`Feature`. The deployment hands the list of them to the
document layer (which creates the tables and indexes, and knows none of them itself) and to
the function registry; nothing else lists another feature's tables.

System tables have fixed numbers below :data:`FIRST_USER_TABLE`, so an id names its table
the same way in every deployment; a number is never reused.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .errors import SchemaError

if TYPE_CHECKING:
    from .functions import FunctionDefinition

__all__ = ["FIRST_USER_TABLE", "Feature", "SystemTable", "check_features"]

#: User tables are numbered from here on; system tables below.
FIRST_USER_TABLE = 10_000


@dataclass(frozen=True)
class SystemTable:
    """A system table (its name starts with ``_``), its fixed number and its indexes
    (``name -> fields``, as a schema declares them for user tables)."""

    name: str
    number: int
    indexes: Mapping[str, tuple[str, ...]] = field(default_factory=dict)


@dataclass(frozen=True)
class Feature:
    """What one feature brings: tables, ``_system/…`` functions, and an ``install`` hook
    called with the runtime once every feature's tables and functions are in place (to
    subscribe to another feature's hooks, as crons do to the scheduler's job states)."""

    name: str
    tables: Sequence[SystemTable] = ()
    functions: Mapping[str, FunctionDefinition] = field(default_factory=dict)
    install: Callable[[Any], None] | None = None


def check_features(features: Sequence[Feature]) -> dict[str, SystemTable]:
    """Every system table of ``features`` by name; SchemaError on a clash."""
    tables: dict[str, SystemTable] = {}
    numbers: dict[int, str] = {}
    for feature in features:
        for table in feature.tables:
            if not table.name.startswith("_"):
                raise SchemaError(f"{feature.name}: system table {table.name!r} must start with _")
            if not 0 < table.number < FIRST_USER_TABLE:
                raise SchemaError(f"{feature.name}: {table.name} has number {table.number}")
            clash = table.name if table.name in tables else numbers.get(table.number)
            if clash is not None:
                raise SchemaError(f"{feature.name}: {table.name} clashes with {clash}")
            tables[table.name], numbers[table.number] = table, table.name
    return tables
