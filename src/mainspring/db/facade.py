"""``ctx.db`` as user code sees it: Convex's database API over the internal document layer.

User functions get a :class:`DatabaseReader` (queries) or :class:`DatabaseWriter`
(mutations). They wrap the internal :class:`~mainspring.db.store.DocumentReader` /
``DocumentWriter`` and pass on only ``get``, ``query``, ``normalize_id``, ``insert``,
``patch``, ``replace``, ``delete`` and a read-only ``system`` view (``_storage``,
``_scheduled_functions``, as in Convex). Raw scans, claims, notifications and writes to
system tables stay with Mainspring's own code, which holds the internal objects.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, NoReturn

from ..errors import NotAllowedError
from .query import Query
from .store import DocumentReader, DocumentWriter

__all__ = [
    "READABLE_SYSTEM_TABLES",
    "DatabaseReader",
    "DatabaseWriter",
    "SystemReader",
    "refuse",
]


def refuse(what: str, name: str, offers: str) -> NoReturn:
    """The AttributeError for an attribute a capability object does not offer."""
    if name.startswith("__"):  # copy, pickle and friends probe for dunders: stay quiet
        raise AttributeError(name)
    raise AttributeError(f"{what} has no attribute {name!r}: it offers {offers}")


#: The system tables user code may read, as in Convex; the others are Mainspring's own.
READABLE_SYSTEM_TABLES = frozenset({"_storage", "_scheduled_functions"})


def _readable(table: str | None, what: object) -> None:
    if table is not None and table not in READABLE_SYSTEM_TABLES and table.startswith("_"):
        raise NotAllowedError(
            f"{what}: {table!r} is internal to Mainspring; ctx.db.system reads "
            f"{' and '.join(sorted(READABLE_SYSTEM_TABLES))}"
        )


class SystemReader:
    """``ctx.db.system``: read-only access to ``_storage`` and ``_scheduled_functions``, in
    the caller's snapshot."""

    __slots__ = ("_inner",)
    _offers = "get, query, normalize_id (read-only)"

    def __init__(self, inner: DocumentReader) -> None:
        self._inner = inner.system

    async def get(self, doc_id: str) -> dict[str, Any] | None:
        """The system document with this id, or None."""
        _readable(self._inner.table_of(doc_id), doc_id)
        return await self._inner.get(doc_id)

    def query(self, table: str) -> Query:
        """Start a query over ``_storage`` or ``_scheduled_functions``."""
        _readable(table, f"ctx.db.system.query({table!r})")
        return self._inner.query(table)

    def normalize_id(self, table: str, doc_id: str) -> str | None:
        """``doc_id`` if it is a well-formed id of ``table``, else None."""
        return self._inner.normalize_id(table, doc_id)

    if not TYPE_CHECKING:  # type checkers must still flag unknown attributes

        def __getattr__(self, name: str) -> NoReturn:
            refuse("ctx.db.system", name, self._offers)


class DatabaseReader:
    """``ctx.db`` in a query: ``get``, ``query`` and ``normalize_id`` over one snapshot."""

    __slots__ = ("_inner",)
    _offers = "get, query, normalize_id, system"

    def __init__(self, inner: DocumentReader) -> None:
        self._inner = inner

    @property
    def system(self) -> SystemReader:
        """Read-only access to system tables such as ``_scheduled_functions``."""
        return SystemReader(self._inner)

    async def get(self, doc_id: str) -> dict[str, Any] | None:
        """The document with this id, or None if it does not exist."""
        return await self._inner.get(doc_id)

    def query(self, table: str) -> Query:
        """Start a query over ``table``."""
        return self._inner.query(table)

    def normalize_id(self, table: str, doc_id: str) -> str | None:
        """``doc_id`` if it is a well-formed id of ``table``, else None."""
        return self._inner.normalize_id(table, doc_id)

    if not TYPE_CHECKING:  # type checkers must still flag unknown attributes

        def __getattr__(self, name: str) -> NoReturn:
            refuse("ctx.db", name, self._offers)


class DatabaseWriter(DatabaseReader):
    """``ctx.db`` in a mutation: reads plus ``insert``, ``patch``, ``replace``, ``delete``,
    all in the mutation's serializable transaction."""

    __slots__ = ("_writer",)
    _offers = "get, query, normalize_id, system, insert, patch, replace, delete"

    def __init__(self, inner: DocumentWriter) -> None:
        super().__init__(inner)
        self._writer = inner

    async def insert(self, table: str, document: Mapping[str, Any]) -> str:
        """Insert ``document`` into ``table``; returns the new id."""
        return await self._writer.insert(table, document)

    async def patch(self, doc_id: str, fields: Mapping[str, Any]) -> None:
        """Set the given fields; ``REMOVE`` as a value deletes that field."""
        await self._writer.patch(doc_id, fields)

    async def replace(self, doc_id: str, document: Mapping[str, Any]) -> None:
        """Replace every user field of the document."""
        await self._writer.replace(doc_id, document)

    async def delete(self, doc_id: str) -> None:
        """Delete the document."""
        await self._writer.delete(doc_id)
