"""A read transaction that begins only when it is first used.

Many queries return before touching the database (``if identity is None: return []``);
they should not pay for a pooled connection and a BEGIN/COMMIT round trip.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from types import TracebackType

from .base import Database, IndexEntry, IndexRow, StoredDocument, Transaction

__all__ = ["LazySnapshot"]


class LazySnapshot(Transaction):
    """Read-only :class:`Transaction` opened on first use; use as ``async with``."""

    def __init__(self, database: Database) -> None:
        self._database = database
        self._context: AbstractAsyncContextManager[Transaction] | None = None
        self._tx: Transaction | None = None

    async def _open(self) -> Transaction:
        if self._tx is None:
            self._context = self._database.transaction(write=False)
            self._tx = await self._context.__aenter__()
        return self._tx

    async def __aenter__(self) -> LazySnapshot:
        return self

    async def __aexit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._context is not None:
            context, self._context, self._tx = self._context, None, None
            await context.__aexit__(t, e, tb)

    async def tables(self) -> dict[str, int]:
        return await (await self._open()).tables()

    async def create_table(self, name: str, number: int) -> None:
        await (await self._open()).create_table(name, number)

    async def indexes(self) -> list[IndexRow]:
        return await (await self._open()).indexes()

    async def create_index(self, index: IndexRow) -> None:
        await (await self._open()).create_index(index)

    async def drop_index(self, index_id: int) -> None:
        await (await self._open()).drop_index(index_id)

    async def get(self, doc_id: str) -> StoredDocument | None:
        return await (await self._open()).get(doc_id)

    async def scan(
        self, index_id: int, lo: bytes, hi: bytes | None, descending: bool, limit: int
    ) -> list[tuple[bytes, StoredDocument]]:
        return await (await self._open()).scan(index_id, lo, hi, descending, limit)

    async def insert(self, document: StoredDocument, entries: Sequence[IndexEntry]) -> None:
        await (await self._open()).insert(document, entries)

    async def update(
        self, doc_id: str, value: str, remove: Sequence[IndexEntry], add: Sequence[IndexEntry]
    ) -> None:
        await (await self._open()).update(doc_id, value, remove, add)

    async def delete(self, doc_id: str, entries: Sequence[IndexEntry]) -> None:
        await (await self._open()).delete(doc_id, entries)

    async def get_meta(self, key: str) -> str | None:
        return await (await self._open()).get_meta(key)

    async def set_meta(self, key: str, value: str | None) -> None:
        await (await self._open()).set_meta(key, value)
