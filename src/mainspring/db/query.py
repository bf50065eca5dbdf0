"""The query builder behind ``ctx.db.query(table)``.

``ctx.db.query("jobs").with_index("by_status", lambda q: q.eq("status", "pending"))``
``.order("desc").filter(lambda job: job["attempts"] < 3).take(10)``
"""

from __future__ import annotations

import base64
import struct
from collections.abc import AsyncIterator, Callable, Mapping
from typing import TYPE_CHECKING, Any, Literal

from ..errors import ValidationError
from .keys import encode_value, prefix_end

if TYPE_CHECKING:
    from .base import IndexRow
    from .store import DocumentReader

__all__ = ["IndexRangeBuilder", "Query"]

_BATCH = 256
_MAX_PAGE = 8192


class IndexRangeBuilder:
    """Equalities on a prefix of the index fields, then bounds on the next field."""

    def __init__(self, index: str, fields: tuple[str, ...]) -> None:
        self._index, self._fields = index, fields
        self._eq: list[Any] = []
        self._lower: tuple[str, Any] | None = None
        self._upper: tuple[str, Any] | None = None

    def _next_field(self, op: str, field: str) -> None:
        position = len(self._eq)
        if self._lower or self._upper:
            raise ValidationError(f"index {self._index!r}: .{op}({field!r}) after a range bound")
        if position >= len(self._fields) or self._fields[position] != field:
            expected = self._fields[position] if position < len(self._fields) else "nothing"
            raise ValidationError(
                f"index {self._index!r} on {list(self._fields)}: .{op}({field!r}) must name "
                f"the next index field, {expected!r}"
            )

    def _bound_field(self, op: str, field: str) -> None:
        bounded = (self._lower or self._upper or (None,))[0]
        if bounded is not None:
            if field != bounded:
                raise ValidationError(f"index {self._index!r}: bounds on two fields")
            return
        position = len(self._eq)
        if position >= len(self._fields) or self._fields[position] != field:
            expected = self._fields[position] if position < len(self._fields) else "nothing"
            raise ValidationError(
                f"index {self._index!r}: .{op}({field!r}) must bound the next index field, "
                f"{expected!r}"
            )

    def eq(self, field: str, value: Any) -> IndexRangeBuilder:
        """Index field ``field`` equals ``value``."""
        self._next_field("eq", field)
        self._eq.append(value)
        return self

    def gt(self, field: str, value: Any) -> IndexRangeBuilder:
        """Lower bound, exclusive."""
        return self._set_lower("gt", field, value)

    def gte(self, field: str, value: Any) -> IndexRangeBuilder:
        """Lower bound, inclusive."""
        return self._set_lower("gte", field, value)

    def lt(self, field: str, value: Any) -> IndexRangeBuilder:
        """Upper bound, exclusive."""
        return self._set_upper("lt", field, value)

    def lte(self, field: str, value: Any) -> IndexRangeBuilder:
        """Upper bound, inclusive."""
        return self._set_upper("lte", field, value)

    def _set_lower(self, op: str, field: str, value: Any) -> IndexRangeBuilder:
        self._bound_field(op, field)
        if self._lower:
            raise ValidationError(f"index {self._index!r}: two lower bounds")
        self._lower = (field, (op, value))
        return self

    def _set_upper(self, op: str, field: str, value: Any) -> IndexRangeBuilder:
        self._bound_field(op, field)
        if self._upper:
            raise ValidationError(f"index {self._index!r}: two upper bounds")
        self._upper = (field, (op, value))
        return self

    def bounds(self) -> tuple[bytes, bytes | None]:
        """The byte range ``[lo, hi)`` of index keys this range selects."""
        prefix = b"".join(encode_value(v) for v in self._eq)
        lo: bytes = prefix
        hi: bytes | None = prefix_end(prefix) if prefix else None
        if self._lower:
            op, value = self._lower[1]
            key = prefix + encode_value(value)
            lo = key if op == "gte" else (prefix_end(key) or key)
        if self._upper:
            op, value = self._upper[1]
            key = prefix + encode_value(value)
            hi = key if op == "lt" else prefix_end(key)
        return lo, hi


def _encode_cursor(index_id: int, key: bytes) -> str:
    return base64.urlsafe_b64encode(struct.pack(">I", index_id) + key).decode().rstrip("=")


def _decode_cursor(cursor: str, index_id: int) -> bytes:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
    except (ValueError, TypeError) as exc:
        raise ValidationError(f"invalid pagination cursor {cursor!r}") from exc
    if len(raw) < 4 or struct.unpack(">I", raw[:4])[0] != index_id:
        raise ValidationError("pagination cursor belongs to a different query")
    return raw[4:]


class Query:
    """A lazy query over one table; nothing is read until a terminal method is awaited."""

    def __init__(self, reader: DocumentReader, table: str) -> None:
        self._reader = reader
        self._table = table
        self._index: IndexRow | None = None
        self._index_name = "by_creation_time"
        self._range: tuple[bytes, bytes | None] = (b"", None)
        self._order: Literal["asc", "desc"] = "asc"
        self._filters: list[Callable[[dict[str, Any]], Any]] = []
        self._indexed = False

    def with_index(
        self, name: str, range: Callable[[IndexRangeBuilder], IndexRangeBuilder] | None = None
    ) -> Query:
        """Read through index ``name``, optionally restricted to a range of its keys."""
        if self._indexed:
            raise ValidationError(f"query on {self._table!r}: with_index called twice")
        self._indexed = True
        self._index_name = name
        self._range_fn = range
        return self

    def full_table_scan(self) -> Query:
        """Read the whole table in creation order (the default)."""
        return self

    def order(self, order: Literal["asc", "desc"]) -> Query:
        """Ascending (default) or descending index order."""
        if order not in ("asc", "desc"):
            raise ValidationError(f"order must be 'asc' or 'desc', got {order!r}")
        self._order = order
        return self

    def filter(self, predicate: Callable[[dict[str, Any]], Any]) -> Query:
        """Keep only documents for which ``predicate(document)`` is truthy."""
        if not callable(predicate):
            raise ValidationError("filter takes a function of the document")
        self._filters.append(predicate)
        return self

    async def _resolve(self) -> tuple[IndexRow | None, bytes, bytes | None]:
        index = await self._reader.index_for(self._table, self._index_name)
        if index is None:
            return None, b"", None
        lo, hi = b"", None
        range_fn = getattr(self, "_range_fn", None)
        if range_fn is not None:
            builder = range_fn(IndexRangeBuilder(self._index_name, index.fields))
            if not isinstance(builder, IndexRangeBuilder):
                raise ValidationError(
                    f"index {self._index_name!r}: the range function must "
                    "return the builder (e.g. lambda q: q.eq(...))"
                )
            lo, hi = builder.bounds()
        return index, lo, hi

    async def _stream(
        self, lo: bytes, hi: bytes | None, limit: int | None = None
    ) -> AsyncIterator[tuple[bytes, dict[str, Any]]]:
        index, base_lo, base_hi = await self._resolve()
        if index is None:
            return
        lo = max(lo, base_lo)
        if base_hi is not None:
            hi = base_hi if hi is None else min(hi, base_hi)
        descending = self._order == "desc"
        while True:
            batch = _BATCH if limit is None else min(_BATCH, max(limit, 1))
            rows = await self._reader.scan(index, lo, hi, descending, batch)
            for key, document in rows:
                if all(f(document) for f in self._filters):
                    yield key, document
            if len(rows) < batch:
                return
            last = rows[-1][0]
            if descending:
                hi = last
            else:
                lo = last + b"\x00"

    def __aiter__(self) -> AsyncIterator[dict[str, Any]]:
        return self._documents()

    async def _documents(self) -> AsyncIterator[dict[str, Any]]:
        async for _, document in self._stream(b"", None):
            yield document

    async def collect(self) -> list[dict[str, Any]]:
        """Every matching document."""
        return [doc async for doc in self]

    async def take(self, n: int) -> list[dict[str, Any]]:
        """The first ``n`` matching documents."""
        if not isinstance(n, int) or isinstance(n, bool) or n < 0:
            raise ValidationError(f"take(n): n must be a non-negative integer, got {n!r}")
        out: list[dict[str, Any]] = []
        if n == 0:
            return out
        async for _, doc in self._stream(b"", None, limit=None if self._filters else n):
            out.append(doc)
            if len(out) >= n:
                break
        return out

    async def first(self) -> dict[str, Any] | None:
        """The first matching document, or None."""
        found = await self.take(1)
        return found[0] if found else None

    async def unique(self) -> dict[str, Any] | None:
        """The only matching document, None if there is none; more than one is an error."""
        found = await self.take(2)
        if len(found) > 1:
            raise ValidationError(
                f"unique() on {self._table!r} found more than one document "
                f"({found[0]['_id']}, {found[1]['_id']})"
            )
        return found[0] if found else None

    async def paginate(
        self,
        options: Mapping[str, Any] | None = None,
        *,
        cursor: str | None = None,
        num_items: int | None = None,
    ) -> dict[str, Any]:
        """One page: ``{"page", "isDone", "continueCursor"}``.

        Pass Convex's ``{"numItems": n, "cursor": c}`` or ``cursor=`` and ``num_items=``.
        """
        if options is not None:
            num_items = options.get("numItems", num_items)
            cursor = options.get("cursor", cursor)
        if not isinstance(num_items, int) or isinstance(num_items, bool) or num_items < 1:
            raise ValidationError(
                f"paginate: numItems must be a positive integer, got {num_items!r}"
            )
        num_items = min(num_items, _MAX_PAGE)
        index, _, _ = await self._resolve()
        index_id = index.id if index else 0
        lo, hi = b"", None
        if cursor:
            position = _decode_cursor(cursor, index_id)
            if self._order == "desc":
                hi = position
            else:
                lo = position + b"\x00"
        page: list[dict[str, Any]] = []
        last_key: bytes | None = None
        done = True
        async for key, doc in self._stream(lo, hi, limit=None if self._filters else num_items + 1):
            if len(page) == num_items:
                done = False
                break
            page.append(doc)
            last_key = key
        if last_key is None:
            continue_cursor = cursor or _encode_cursor(index_id, b"")
        else:
            continue_cursor = _encode_cursor(index_id, last_key)
        return {"page": page, "isDone": done, "continueCursor": continue_cursor}
