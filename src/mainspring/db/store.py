"""The document layer: Convex semantics on top of a thin :class:`Database`.

``DocumentStore`` owns the catalog (table numbers, indexes, kept in step with the schema);
``DocumentReader`` is ``ctx.db`` in a query, ``DocumentWriter`` in a mutation. Both record
what they read and write, so live queries can later tell which subscriptions a commit touched.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .. import values
from ..clock import Clock
from ..errors import DocumentNotFoundError, NotAllowedError, SchemaError, ValidationError
from ..features import FIRST_USER_TABLE, SystemTable
from ..ids import decode_id, new_id, table_resolver
from ..schema import Schema, check_table_name
from .base import Database, IndexEntry, IndexRow, StoredDocument, Transaction
from .keys import index_key
from .query import Query
from .read_set import ReadSet, current_read_set

__all__ = [
    "Catalog",
    "DocumentReader",
    "DocumentStore",
    "DocumentWriter",
    "WriteSet",
]

log = logging.getLogger("mainspring.db")

CREATION_INDEX = "by_creation_time"


@dataclass
class Catalog:
    """Tables and indexes as last read from the database."""

    numbers: dict[str, int] = field(default_factory=dict)
    names: dict[int, str] = field(default_factory=dict)
    indexes: dict[tuple[int, str], IndexRow] = field(default_factory=dict)

    @classmethod
    async def load(cls, tx: Transaction) -> Catalog:
        catalog = cls()
        for name, number in (await tx.tables()).items():
            catalog.numbers[name] = number
            catalog.names[number] = name
        for index in await tx.indexes():
            catalog.indexes[(index.table_number, index.name)] = index
        return catalog

    def table_indexes(self, number: int) -> list[IndexRow]:
        return [i for (t, _), i in self.indexes.items() if t == number]


@dataclass
class WriteSet:
    """Documents a transaction changed, with their index keys before and after."""

    documents: dict[str, str] = field(default_factory=dict)  # id -> table
    keys: list[IndexEntry] = field(default_factory=list)
    after_commit: list[Any] = field(default_factory=list)
    #: Work this transaction made due, by kind (its wake-up channel): the earliest time.
    #: The commit feed carries it to the engines of this process.
    due: dict[str, float] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.documents)


class DocumentStore:
    """The catalog and the schema of one deployment over one database."""

    def __init__(
        self,
        database: Database,
        clock: Clock,
        schema: Schema | None = None,
        system_tables: Sequence[SystemTable] = (),
    ) -> None:
        self.database = database
        self.clock = clock
        self.schema = schema
        #: The features' system tables (see :mod:`mainspring.features`), by name.
        self.system_tables = {table.name: table for table in system_tables}
        self.catalog = Catalog()
        self._stale = False
        self._last_creation = 0.0

    def next_creation_time(self) -> float:
        """Now, but strictly after the last creation time this process handed out.

        Convex's ``_creationTime`` is fractional milliseconds; keeping it strictly increasing
        makes documents inserted in one millisecond (or under a frozen test clock) come back
        in insertion order instead of by their random ids.
        """
        now = self.clock.now_ms()
        if now <= self._last_creation:
            now = self._last_creation + 0.001
        self._last_creation = now
        return now

    async def ensure_loaded(self, tx: Transaction) -> None:
        """Read the catalog if it was invalidated (after a rolled-back table creation)."""
        if self._stale or not self.catalog.numbers:
            self._stale = False
            self.catalog = await Catalog.load(tx)

    def invalidate_catalog(self) -> None:
        """Re-read the catalog at the next transaction's start (a rollback may have undone
        a table it holds). Transactions in flight keep the catalog object they use, so they
        never see it emptied under them: their index maintenance needs every index."""
        self._stale = True

    def table_name(self, number: int) -> str | None:
        """Name of a table number, from the cached catalog."""
        return self.catalog.names.get(number)

    async def prepare(self) -> None:
        """Bring the catalog in line with the schema: create tables, build and drop indexes."""
        async with self.database.transaction(write=True) as tx:
            self.catalog = await Catalog.load(tx)
            for name in self.system_tables:
                await self._ensure_table(tx, name)
            await self._sync_system_indexes(tx)
            for name in self.schema.tables if self.schema else ():
                await self._ensure_table(tx, name)
            await self._sync_indexes(tx)
            self.catalog = await Catalog.load(tx)

    async def _ensure_table(self, tx: Transaction, name: str) -> int:
        number = self.catalog.numbers.get(name)
        if number is not None:
            return number
        self.catalog = await Catalog.load(tx)
        number = self.catalog.numbers.get(name)
        if number is not None:
            return number
        if name in self.system_tables:
            number = self.system_tables[name].number
        else:
            number = max([FIRST_USER_TABLE - 1, *self.catalog.names]) + 1
        await tx.create_table(name, number)
        await self._create_index(tx, number, CREATION_INDEX, ())
        self.catalog.numbers[name], self.catalog.names[number] = number, name
        log.info("created table %s", name)
        if self.schema and (declared := self.schema.table(name)):
            for index, fields in declared.indexes.items():
                await self._create_index(tx, number, index, tuple(fields))
        return number

    async def _sync_system_indexes(self, tx: Transaction) -> None:
        for name, table in self.system_tables.items():
            number = self.catalog.numbers[name]
            for index, fields in table.indexes.items():
                if (number, index) not in self.catalog.indexes:
                    await self._create_index(tx, number, index, fields)

    async def _create_index(
        self, tx: Transaction, table: int, name: str, fields: tuple[str, ...]
    ) -> None:
        next_id = max([0, *(i.id for i in self.catalog.indexes.values())]) + 1
        index = IndexRow(next_id, table, name, fields)
        await tx.create_index(index)
        self.catalog.indexes[(table, name)] = index
        # Backfill from the creation-time index: a new index on an existing table.
        creation = self.catalog.indexes.get((table, CREATION_INDEX))
        if creation is None or creation.id == index.id:
            return
        lo, count = b"", 0
        while rows := await tx.scan(creation.id, lo, None, False, 1000):
            for _, stored in rows:
                await tx.update(stored.id, stored.value, (), [(index.id, _key(stored, fields))])
                count += 1
            lo = rows[-1][0] + b"\x00"
        if count:
            log.info("built index %s.%s over %d documents", self.catalog.names[table], name, count)

    async def _sync_indexes(self, tx: Transaction) -> None:
        if self.schema is None:
            return
        for name, declared in self.schema.tables.items():
            number = self.catalog.numbers[name]
            existing = {i.name: i for i in self.catalog.table_indexes(number)}
            for index, fields in declared.indexes.items():
                current = existing.get(index)
                if current is not None and current.fields == tuple(fields):
                    continue
                if current is not None:
                    await tx.drop_index(current.id)
                    del self.catalog.indexes[(number, index)]
                await self._create_index(tx, number, index, tuple(fields))
            for index, row in existing.items():
                if index != CREATION_INDEX and index not in declared.indexes:
                    await tx.drop_index(row.id)
                    del self.catalog.indexes[(number, index)]
                    log.info("dropped index %s.%s", name, index)


def _key(stored: StoredDocument, fields: tuple[str, ...]) -> bytes:
    document = values.loads(stored.value)
    document["_id"], document["_creationTime"] = stored.id, stored.creation_time
    return index_key(document, fields)


def _materialize(stored: StoredDocument) -> dict[str, Any]:
    document: dict[str, Any] = {"_id": stored.id, "_creationTime": stored.creation_time}
    document.update(values.loads(stored.value))
    return document


class DocumentReader:
    """``ctx.db`` in a query: ``get`` and ``query`` over one consistent snapshot."""

    def __init__(self, store: DocumentStore, tx: Transaction, *, system: bool = False) -> None:
        self._store = store
        self._tx = tx
        self._system = system
        # A live query records into the caller's set; everything else into a throwaway one.
        self.reads = current_read_set() or ReadSet()
        self.read_ranges = self.reads.ranges
        self.read_ids = self.reads.ids

    @property
    def system(self) -> DocumentReader:
        """Read-only access to system tables such as ``_scheduled_functions``, same snapshot."""
        view = DocumentReader(self._store, self._tx, system=True)
        view.reads, view.read_ranges, view.read_ids = self.reads, self.read_ranges, self.read_ids
        return view

    def _check_table(self, table: str) -> None:
        if not isinstance(table, str):
            raise ValidationError(f"table name must be a string, got {table!r}")
        if table.startswith("_") != self._system:
            where = "ctx.db.system" if table.startswith("_") else "ctx.db"
            raise NotAllowedError(f"table {table!r} is read through {where}")

    async def _table_number(self, table: str) -> int | None:
        number = self._store.catalog.numbers.get(table)
        if number is None:
            self._store.catalog = await Catalog.load(self._tx)
            number = self._store.catalog.numbers.get(table)
        return number

    async def index_for(self, table: str, index: str) -> IndexRow | None:
        """The catalog row of ``table``'s index ``index`` (None if the table is empty/new)."""
        self._check_table(table)
        number = await self._table_number(table)
        self.reads.tables.add(table)
        if number is None:
            self.reads.missing_tables.add(table)
            return None
        row = self._store.catalog.indexes.get((number, index))
        if row is None:
            declared = [i for (t, i) in self._store.catalog.indexes if t == number]
            raise ValidationError(f"table {table!r} has no index {index!r} (it has {declared})")
        return row

    async def scan(
        self, index: IndexRow, lo: bytes, hi: bytes | None, descending: bool, limit: int
    ) -> list[tuple[bytes, dict[str, Any]]]:
        """Raw index scan, recorded in the read set."""
        self.read_ranges.append((index.id, lo, hi))
        rows = await self._tx.scan(index.id, lo, hi, descending, limit)
        for _, stored in rows:
            self._remember(stored.id, stored)
        return [(key, _materialize(stored)) for key, stored in rows]

    async def count(self, index: IndexRow, lo: bytes, hi: bytes | None, limit: int) -> int:
        """How many entries of an index range there are (at most ``limit``), recorded in the
        read set like a scan of that range."""
        self.read_ranges.append((index.id, lo, hi))
        return await self._tx.count(index.id, lo, hi, limit)

    async def claim(
        self, index: IndexRow, lo: bytes, hi: bytes | None, limit: int
    ) -> list[dict[str, Any]]:
        """Documents of an ascending index range that no other transaction holds, held by
        this one until it ends (in a claim transaction: see :mod:`mainspring.db.base`)."""
        self.read_ranges.append((index.id, lo, hi))
        rows = await self._tx.claim(index.id, lo, hi, limit)
        for _, stored in rows:
            self._remember(stored.id, stored)
        return [_materialize(stored) for _, stored in rows]

    async def _load(self, doc_id: str) -> StoredDocument | None:
        return await self._tx.get(doc_id)

    def _remember(self, doc_id: str, stored: StoredDocument | None) -> None:
        """A writer keeps what its transaction read and wrote (see DocumentWriter)."""

    def table_of(self, doc_id: Any) -> str | None:
        """The table an id names (ValidationError if it is not an id)."""
        return self._table_of(doc_id, strict=True)

    def _table_of(self, doc_id: Any, *, strict: bool) -> str | None:
        number = decode_id(doc_id) if isinstance(doc_id, str) else None
        if number is None:
            if strict:
                raise ValidationError(f"{doc_id!r} is not a document id")
            return None
        return self._store.table_name(number)

    async def get(self, doc_id: str) -> dict[str, Any] | None:
        """The document with this id, or None if it does not exist."""
        self._table_of(doc_id, strict=True)
        self.read_ids.add(doc_id)
        stored = await self._load(doc_id)
        if stored is None:
            return None
        name = self._store.table_name(stored.table_number)
        if name is not None and name.startswith("_") != self._system:
            raise NotAllowedError(f"{doc_id} is in system table {name!r}: use ctx.db.system.get")
        return _materialize(stored)

    def query(self, table: str) -> Query:
        """Start a query over ``table``."""
        self._check_table(table)
        return Query(self, table)

    def normalize_id(self, table: str, doc_id: str) -> str | None:
        """``doc_id`` if it is a well-formed id of ``table``, else None."""
        number = decode_id(doc_id) if isinstance(doc_id, str) else None
        return doc_id if number is not None and self._store.table_name(number) == table else None


class DocumentWriter(DocumentReader):
    """``ctx.db`` in a mutation: reads plus ``insert``, ``patch``, ``replace``, ``delete``."""

    def __init__(self, store: DocumentStore, tx: Transaction, *, system: bool = False) -> None:
        super().__init__(store, tx, system=system)
        self.writes = WriteSet()
        # Documents as this transaction last read or wrote them: a transaction sees one
        # snapshot plus its own writes, so reading one again (get, then patch) needs no
        # second round trip to the database.
        self._seen: dict[str, StoredDocument | None] = {}

    def system_writer(self) -> DocumentWriter:
        """Writes to system tables, in this transaction — for Mainspring's own code only."""
        view = DocumentWriter(self._store, self._tx, system=True)
        view.read_ranges, view.read_ids, view.writes = self.read_ranges, self.read_ids, self.writes
        view._seen = self._seen
        return view

    async def _load(self, doc_id: str) -> StoredDocument | None:
        if doc_id in self._seen:
            return self._seen[doc_id]
        stored = await self._tx.get(doc_id)
        self._seen[doc_id] = stored
        return stored

    def _remember(self, doc_id: str, stored: StoredDocument | None) -> None:
        self._seen[doc_id] = stored

    async def prefetch(self, doc_ids: list[str]) -> None:
        """Load many documents in one go, so that ``get`` of each costs no round trip
        (Mainspring's batch work: recording many outcomes in one transaction)."""
        missing = [doc_id for doc_id in doc_ids if doc_id not in self._seen]
        if len(missing) < 2:
            return
        found = await self._tx.get_many(missing)
        for doc_id in missing:
            self._seen[doc_id] = found.get(doc_id)

    async def notify(self, channel: str, payload: str) -> None:
        """Tell ``channel``'s listeners in every process, if this transaction commits."""
        await self._tx.notify(channel, payload)

    def _validate(self, table: str, document: Mapping[str, Any], where: str) -> str:
        if not isinstance(document, Mapping):
            raise ValidationError(
                f"{where}: a document must be a dict, got {type(document).__name__}"
            )
        for key in document:
            if isinstance(key, str) and key.startswith("_"):
                raise ValidationError(
                    f"{where}: field {key!r}: names starting with '_' are reserved"
                )
        schema = self._store.schema
        declared = schema.table(table) if schema and not table.startswith("_") else None
        if declared is not None:
            token = table_resolver.set(self._store.table_name)
            try:
                declared.check_document(document, where)
            finally:
                table_resolver.reset(token)
        elif schema is not None and schema.strict_tables and not table.startswith("_"):
            raise SchemaError(f"{where}: table {table!r} is not declared in the schema")
        text = values.dumps(document, where)
        if len(text.encode()) > values.MAX_DOCUMENT_BYTES:
            raise ValidationError(f"{where}: document is larger than 1 MiB")
        return text

    async def _number_for_write(self, table: str) -> int:
        number = await self._table_number(table)
        if number is None:
            check_table_name(table, system=self._system)
            number = await self._store._ensure_table(self._tx, table)
        return number

    def _indexes(self, number: int) -> list[IndexRow]:
        return self._store.catalog.table_indexes(number)

    async def insert(
        self, table: str, document: Mapping[str, Any], *, doc_id: str | None = None
    ) -> str:
        """Insert ``document`` into ``table``; returns the new id.

        ``doc_id`` (system writers only) is an id minted beforehand with :func:`new_id`, for
        a document whose id must be known before it exists (a stored file's blob key).
        """
        self._check_table(table)
        text = self._validate(table, document, f"insert into {table!r}")
        number = await self._number_for_write(table)
        now = self._store.next_creation_time()
        if doc_id is None:
            doc_id = new_id(number, now)
        elif not self._system or decode_id(doc_id) != number:
            raise NotAllowedError(f"insert into {table!r}: a preassigned id must be of {table!r}")
        full = {"_id": doc_id, "_creationTime": now, **document}
        entries = [(i.id, index_key(full, i.fields)) for i in self._indexes(number)]
        stored = StoredDocument(doc_id, number, now, text)
        await self._tx.insert(stored, entries)
        self._seen[doc_id] = stored
        self.writes.documents[doc_id] = table
        self.writes.keys.extend(entries)
        return doc_id

    async def _existing(self, doc_id: str, verb: str) -> tuple[str, StoredDocument]:
        table = self._table_of(doc_id, strict=True)
        stored = await self._load(doc_id)
        if stored is not None and table is None:  # created by another process
            self._store.catalog = await Catalog.load(self._tx)
            table = self._store.table_name(stored.table_number)
        if stored is None or table is None:
            raise DocumentNotFoundError(f"{verb}: document {doc_id} does not exist")
        if table.startswith("_") != self._system:
            raise NotAllowedError(f"{verb}: {doc_id} is in system table {table!r}")
        return table, stored

    async def _write(
        self,
        doc_id: str,
        table: str,
        stored: StoredDocument,
        new_fields: dict[str, Any],
        where: str,
    ) -> None:
        text = self._validate(table, new_fields, where)
        old = _materialize(stored)
        new = {"_id": doc_id, "_creationTime": stored.creation_time, **new_fields}
        remove, add, unchanged = [], [], []
        for index in self._indexes(stored.table_number):
            before, after = index_key(old, index.fields), index_key(new, index.fields)
            if before != after:
                remove.append((index.id, before))
                add.append((index.id, after))
            else:
                unchanged.append((index.id, before))
        await self._tx.update(doc_id, text, remove, add)
        self._seen[doc_id] = StoredDocument(doc_id, stored.table_number, stored.creation_time, text)
        self.writes.documents[doc_id] = table
        # Unchanged keys too: a range holding the document read its old value.
        self.writes.keys.extend(remove + add + unchanged)

    @staticmethod
    def _strip_system(
        doc_id: str, stored: StoredDocument, fields: Mapping[str, Any], where: str
    ) -> dict[str, Any]:
        out = dict(fields)
        if "_id" in out and out.pop("_id") != doc_id:
            raise ValidationError(f"{where}: _id cannot be changed")
        if "_creationTime" in out and out.pop("_creationTime") != stored.creation_time:
            raise ValidationError(f"{where}: _creationTime cannot be changed")
        return out

    async def patch(self, doc_id: str, fields: Mapping[str, Any]) -> None:
        """Set the given fields; ``REMOVE`` as a value deletes that field."""
        table, stored = await self._existing(doc_id, "patch")
        where = f"patch {table!r} {doc_id}"
        if not isinstance(fields, Mapping):
            raise ValidationError(f"{where}: fields must be a dict, got {type(fields).__name__}")
        merged = values.loads(stored.value)
        for key, value in self._strip_system(doc_id, stored, fields, where).items():
            if value is REMOVE:
                merged.pop(key, None)
            else:
                merged[key] = value
        await self._write(doc_id, table, stored, merged, where)

    async def replace(self, doc_id: str, document: Mapping[str, Any]) -> None:
        """Replace every user field of the document."""
        table, stored = await self._existing(doc_id, "replace")
        where = f"replace {table!r} {doc_id}"
        if not isinstance(document, Mapping):
            raise ValidationError(f"{where}: a document must be a dict")
        fields = self._strip_system(doc_id, stored, document, where)
        await self._write(doc_id, table, stored, fields, where)

    async def delete(self, doc_id: str) -> None:
        """Delete the document."""
        table, stored = await self._existing(doc_id, "delete")
        old = _materialize(stored)
        entries = [(i.id, index_key(old, i.fields)) for i in self._indexes(stored.table_number)]
        await self._tx.delete(doc_id, entries)
        self._seen[doc_id] = None
        self.writes.documents[doc_id] = table
        self.writes.keys.extend(entries)


class _Remove:
    __slots__ = ()

    def __repr__(self) -> str:
        return "REMOVE"


#: Pass as a value to ``ctx.db.patch`` to delete a field (JS passes ``undefined``).
REMOVE: Any = _Remove()
