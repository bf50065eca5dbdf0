"""Reference-aware garbage collection of stored files (``mainspring storage gc``).

Three kinds of garbage are found, each only once it is older than a grace period (default
24 hours), so uploads in flight and files about to be saved are never touched:

``orphan-blob``
    An object in the blob store with no ``_storage`` row (and no pending presigned upload
    naming it): a crash between writing the blob and recording it, a failed blob delete.
    Its age is the object's last-modified time (wall clock).
``incomplete``
    What an upload that never finished left in the store: a temporary file of the local
    store, an open multipart upload on S3. Age as above.
``unreferenced``
    A ``_storage`` row (and its blob) that no document references. Its age is the row's
    ``_creationTime`` (the deployment's clock).

**What counts as referenced.** A file is referenced when its storage id appears in:

* a field of a table the schema declares, wherever the field's type allows an
  ``Id["_storage"]`` (``StorageId``) — walking ``Optional``/unions, lists, sets, tuples,
  dict values (and keys), nested ``TypedDict``-like classes (anything with annotations) and
  ``Annotated``. Where a type is ``Any``/``object`` or otherwise unknown, every string in
  the value that is a storage id counts (conservative);
* any string anywhere in a document of a table the schema does not declare (schema-less
  tables, or every table when there is no schema) that is a storage id;
* any string in the arguments of scheduled functions and cron jobs (``_scheduled_functions``,
  ``_cron_jobs``), so a file handed to a job that has not run yet is kept;
* the ``storageId`` of a pending presigned upload (``_storage_uploads``) — that file is not
  a ``_storage`` row yet, so its blob is not an orphan.

A string that merely looks like a storage id in a declared ``str`` field does not count.

**Deleting** (``--delete``) removes rows first, through :func:`delete_unreferenced`, which
re-reads every reference in its own transaction, so a file that gained a reference since the
scan is kept (and a concurrent write of one conflicts and retries).
Their blobs go once that commits; then orphan blobs (re-checked to have no row) and
incomplete leftovers are discarded.
"""

from __future__ import annotations

import dataclasses
import time
import types
import typing
from collections.abc import AsyncIterator, Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Protocol

from ..db.store import DocumentReader, DocumentWriter
from ..ids import IdRef, decode_id
from .base import ListedBlob
from .files import STORAGE_NUMBER, STORAGE_TABLE, UPLOADS_TABLE, storage_id_of_key

if TYPE_CHECKING:
    from ..db.store import DocumentStore
    from ..kernel import Kernel
    from .service import StorageService

    class StorageKernel(Kernel, Protocol):
        """The kernel, with the document layer (the schema, the catalog) and storage."""

        store: DocumentStore
        storage: StorageService

    from ..schema import Schema

__all__ = [
    "DEFAULT_GRACE_MS",
    "GarbageItem",
    "GcReport",
    "collect_garbage",
    "delete_unreferenced",
    "find_references",
    "references_in",
]

DEFAULT_GRACE_MS = 86_400_000.0
_STORAGE_NUMBER = STORAGE_NUMBER
#: System tables whose documents may carry storage ids in their arguments.
_SCANNED_SYSTEM_TABLES = ("_scheduled_functions", "_cron_jobs")

GarbageKind = Literal["orphan-blob", "incomplete", "unreferenced"]


@dataclass(frozen=True, slots=True)
class GarbageItem:
    """One piece of garbage found."""

    kind: GarbageKind
    key: str  # the blob key (for unreferenced files: the blob key of the storage id)
    storage_id: str | None
    size: int
    age_ms: float
    listed: ListedBlob | None = None  # what the blob store listed (orphans, leftovers)


@dataclass(slots=True)
class GcReport:
    """What a collection found and (with ``delete``) removed."""

    items: list[GarbageItem] = field(default_factory=list)
    deleted: int = 0
    kept: list[str] = field(default_factory=list)  # re-checked and found referenced after all

    def totals(self) -> dict[str, tuple[int, int]]:
        """``kind -> (count, bytes)`` for each kind of garbage."""
        result: dict[str, tuple[int, int]] = {
            "orphan-blob": (0, 0),
            "incomplete": (0, 0),
            "unreferenced": (0, 0),
        }
        for item in self.items:
            count, size = result[item.kind]
            result[item.kind] = (count + 1, size + item.size)
        return result


def _is_storage_id(value: Any) -> bool:
    return isinstance(value, str) and decode_id(value) == _STORAGE_NUMBER


def _all_strings(value: Any) -> Iterator[str]:
    """Every string that is a storage id anywhere in ``value`` (keys included)."""
    if isinstance(value, str):
        if _is_storage_id(value):
            yield value
    elif isinstance(value, Mapping):
        for key, item in value.items():
            yield from _all_strings(key)
            yield from _all_strings(item)
    elif isinstance(value, list | tuple | set | frozenset):
        for item in value:
            yield from _all_strings(item)


def _is_storage_ref(meta: Any) -> bool:
    if not isinstance(meta, IdRef):
        return False
    try:
        return meta.table == STORAGE_TABLE
    except Exception:
        return False


def _class_hints(hint: Any) -> dict[str, Any] | None:
    """Field types of a TypedDict-like class (TypedDict, dataclass, pydantic model, Table)."""
    if not isinstance(hint, type) or hint in (str, bytes, int, float, bool):
        return None
    if not getattr(hint, "__annotations__", None) and not dataclasses.is_dataclass(hint):
        return None
    try:
        return typing.get_type_hints(hint, include_extras=True)
    except Exception:
        return None


def references_in(value: Any, hint: Any) -> Iterator[str]:
    """Storage ids in ``value`` where its type ``hint`` allows an ``Id["_storage"]``."""
    if value is None:
        return
    origin = typing.get_origin(hint)
    if hint is Any or hint is object:
        yield from _all_strings(value)
    elif origin is typing.Annotated:
        base, *metadata = typing.get_args(hint)
        if any(_is_storage_ref(meta) for meta in metadata):
            if _is_storage_id(value):
                yield value
        else:
            yield from references_in(value, base)
    elif origin is typing.Union or isinstance(hint, types.UnionType):
        seen: set[str] = set()
        for arm in typing.get_args(hint):
            for found in references_in(value, arm):
                if found not in seen:
                    seen.add(found)
                    yield found
    elif origin is typing.Literal or hint in (str, bytes, int, float, bool, type(None)):
        return
    elif origin in (list, set, frozenset) or (
        isinstance(origin, type) and origin.__name__ in ("Sequence", "MutableSequence", "Set")
    ):
        (item,) = typing.get_args(hint) or (Any,)
        if isinstance(value, list | tuple | set | frozenset):
            for element in value:
                yield from references_in(element, item)
    elif origin is tuple:
        args = typing.get_args(hint)
        if isinstance(value, list | tuple):
            if len(args) == 2 and args[1] is Ellipsis:
                args = (args[0],) * len(value)
            for element, element_hint in zip(value, args, strict=False):
                yield from references_in(element, element_hint)
    elif origin is dict or (isinstance(origin, type) and issubclass(origin, Mapping)):
        key_hint, value_hint = typing.get_args(hint) or (Any, Any)
        if isinstance(value, Mapping):
            for key, item in value.items():
                yield from references_in(key, key_hint)
                yield from references_in(item, value_hint)
    elif (hints := _class_hints(hint)) is not None:
        if isinstance(value, Mapping):
            for name, item in value.items():
                yield from references_in(item, hints.get(name, Any))
    else:
        # An unknown type (a TypeVar, a custom class): be conservative.
        yield from _all_strings(value)


def _document_references(
    document: Mapping[str, Any], fields: Mapping[str, Any] | None
) -> Iterator[str]:
    if fields is None:
        yield from _all_strings({k: v for k, v in document.items() if not k.startswith("_")})
        return
    for name, value in document.items():
        if not name.startswith("_"):
            yield from references_in(value, fields.get(name, Any))


async def find_references(
    reader: DocumentReader, schema: Schema | None, table_names: list[str]
) -> set[str]:
    """Every storage id referenced in the documents ``reader`` sees (see the module doc).

    ``table_names`` are the user tables to scan (the catalog's, at the time).
    """
    found: set[str] = set()
    for table in table_names:
        declared = schema.table(table) if schema is not None else None
        fields = declared.fields if declared is not None else None
        async for document in reader.query(table):
            found.update(_document_references(document, fields))
    for system_table in _SCANNED_SYSTEM_TABLES:
        async for document in reader.system.query(system_table):
            found.update(_all_strings(document.get("args")))
    async for pending in reader.system.query(UPLOADS_TABLE):
        if _is_storage_id(pending.get("storageId")):
            found.add(pending["storageId"])
    return found


def _user_tables(runtime: StorageKernel) -> list[str]:
    return sorted(name for name in runtime.store.catalog.numbers if not name.startswith("_"))


async def _stored_rows(reader: DocumentReader) -> AsyncIterator[dict[str, Any]]:
    async for row in reader.system.query(STORAGE_TABLE):
        yield row


async def delete_unreferenced(runtime: StorageKernel, storage_ids: list[str]) -> list[str]:
    """Delete those of ``storage_ids`` that are still unreferenced; the ids deleted.

    References are re-read in the deleting transaction, so a reference written meanwhile
    either is seen there or makes it conflict and retry.
    """

    async def delete(writer: DocumentWriter) -> list[str]:
        referenced = await find_references(writer, runtime.store.schema, _user_tables(runtime))
        deleted: list[str] = []
        for storage_id in storage_ids:
            if storage_id in referenced or not _is_storage_id(storage_id):
                continue
            if await runtime.storage.delete_file(writer, storage_id):
                deleted.append(storage_id)
        return deleted

    return await runtime.transact(delete, label="storage gc: delete unreferenced files")


async def collect_garbage(
    runtime: StorageKernel,
    *,
    grace_ms: float = DEFAULT_GRACE_MS,
    delete: bool = False,
    batch: int = 200,
) -> GcReport:
    """Find (and with ``delete``, remove) the deployment's storage garbage.

    Blob ages are measured on the wall clock (the store's last-modified times), row ages on
    the runtime's clock. Nothing younger than ``grace_ms`` is reported.
    """
    store = runtime.storage.blob_store
    row_now = runtime.clock.now_ms()
    report = GcReport()
    async with runtime.read_snapshot() as reader:
        referenced = await find_references(reader, runtime.store.schema, _user_tables(runtime))
        rows = {row["_id"]: row async for row in _stored_rows(reader)}
    for storage_id, row in rows.items():
        age = max(0.0, row_now - float(row["_creationTime"]))
        if storage_id not in referenced and age >= grace_ms:
            report.items.append(
                GarbageItem("unreferenced", storage_id, storage_id, int(row["size"]), age)
            )
    blob_now = time.time() * 1000.0
    async for listed in store.list():
        age = max(0.0, blob_now - listed.modified_ms)
        if age < grace_ms:
            continue
        if listed.incomplete:
            report.items.append(
                GarbageItem("incomplete", listed.key, None, listed.size, age, listed)
            )
            continue
        storage_id = storage_id_of_key(listed.key)
        if storage_id is not None and (storage_id in rows or storage_id in referenced):
            continue
        report.items.append(
            GarbageItem("orphan-blob", listed.key, storage_id, listed.size, age, listed)
        )
    if not delete:
        return report

    candidates = [item.key for item in report.items if item.kind == "unreferenced"]
    deleted: set[str] = set()
    for start in range(0, len(candidates), batch):
        chunk = candidates[start : start + batch]
        done = await delete_unreferenced(runtime, chunk)
        deleted.update(done)
        report.kept.extend(sid for sid in chunk if sid not in done)
    report.deleted += len(deleted)
    for item in report.items:
        if item.listed is None:
            continue
        # An orphan's row may have appeared since the scan (a very slow upload finishing).
        if (
            item.kind == "orphan-blob"
            and item.storage_id is not None
            and await runtime.storage.metadata(item.storage_id) is not None
        ):
            report.kept.append(item.key)
            continue
        await store.discard(item.listed)
        report.deleted += 1
    return report
