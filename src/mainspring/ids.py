"""Document ids: strings that name their table, sort roughly by creation and carry a checksum.

Layout before base32: 6 bytes of creation milliseconds, 8 random bytes, the table number as a
varint, then a 2-byte checksum — so a typo or an id from another table is caught without a
database read, and inserts land at the right edge of the primary-key B-tree.
"""

from __future__ import annotations

import functools
import os
import zlib
from collections.abc import Callable
from contextvars import ContextVar
from typing import TYPE_CHECKING, Annotated, Any, Generic, TypeVar

from pydantic import GetCoreSchemaHandler
from pydantic_core import PydanticCustomError, core_schema

from .errors import ValidationError

__all__ = ["Id", "IdRef", "StorageId", "decode_id", "is_id", "new_id"]

_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"
_INDEX = {c: i for i, c in enumerate(_ALPHABET)}

# Set by the runtime while validating so Id["table"] can check the table an id belongs to.
table_resolver: ContextVar[Callable[[int], str | None] | None] = ContextVar(
    "mainspring_table_resolver", default=None
)


def _b32encode(data: bytes) -> str:
    number = int.from_bytes(data, "big")
    bits = len(data) * 8
    chars = []
    for shift in range(bits - 5 + (-bits % 5), -1, -5):
        chars.append(_ALPHABET[(number >> shift) & 31] if shift >= 0 else _ALPHABET[0])
    return "".join(chars)


def _b32decode(text: str, length: int) -> bytes:
    number = 0
    for c in text:
        number = (number << 5) | _INDEX[c]
    return number.to_bytes(length, "big")


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def new_id(table_number: int, now_ms: float) -> str:
    """A fresh id for a document of table ``table_number``."""
    body = int(now_ms).to_bytes(6, "big") + os.urandom(8) + _varint(table_number)
    check = (zlib.crc32(body) & 0xFFFF).to_bytes(2, "big")
    return _b32encode(body + check)


def decode_id(text: str) -> int | None:
    """The table number encoded in ``text``, or None if it is not a well-formed id."""
    if not isinstance(text, str):
        return None
    return _decode_id(text)


@functools.lru_cache(maxsize=16384)  # the same ids are decoded again and again
def _decode_id(text: str) -> int | None:
    if not 27 <= len(text) <= 40:
        return None
    if any(c not in _INDEX for c in text):
        return None
    for length in (17, 18, 19, 20):
        if (length * 8 + 4) // 5 != len(text):
            continue
        try:
            raw = _b32decode(text, length)
        except OverflowError:
            return None
        body, check = raw[:-2], raw[-2:]
        if (zlib.crc32(body) & 0xFFFF).to_bytes(2, "big") != check:
            return None
        number, shift = 0, 0
        for byte in body[14:]:
            number |= (byte & 0x7F) << shift
            shift += 7
        return number
    return None


def is_id(text: Any) -> bool:
    """True if ``text`` is a well-formed document id of any table."""
    return decode_id(text) is not None


class IdRef:
    """Pydantic metadata: the annotated string must be an id of table ``table``.

    ``table`` is a table name, or a :class:`~mainspring.Table` class whose name the schema
    gives it (``Schema(files=Files)`` names ``Files`` "files").
    """

    __slots__ = ("_table",)

    def __init__(self, table: Any) -> None:
        self._table = table

    @property
    def table(self) -> str:
        """The table name."""
        if isinstance(self._table, str):
            return self._table
        name = getattr(self._table, "__table_name__", None)
        if name is None:
            raise PydanticCustomError(
                "id_table_class",
                "Id[{cls}]: {cls} is not part of a Schema, so it has no table name",
                {"cls": self._table.__name__},
            )
        return str(name)

    def __repr__(self) -> str:
        return f"Id[{self._table!r}]"

    def validate(self, value: Any) -> str:
        table = self.table
        if not isinstance(value, str):
            raise PydanticCustomError(
                "id_type",
                "expected an id of table {table}, got {got}",
                {"table": table, "got": type(value).__name__},
            )
        number = decode_id(value)
        if number is None:
            raise PydanticCustomError(
                "id_format",
                "expected an id of table {table}, got a string which is not an id",
                {"table": table},
            )
        resolve = table_resolver.get()
        if resolve is not None:
            actual = resolve(number)
            if actual != table:
                raise PydanticCustomError(
                    "id_table",
                    "expected an id of table {table}, got an id of table {actual}",
                    {"table": table, "actual": actual or "<unknown>"},
                )
        return value

    def __get_pydantic_core_schema__(
        self, source: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        return core_schema.no_info_plain_validator_function(
            self.validate, serialization=core_schema.to_string_ser_schema()
        )


_T = TypeVar("_T")

if TYPE_CHECKING:
    # For type checkers Id[Files] is a str subtype; Id["files"] reads as a forward reference
    # to a missing name, so typed code prefers the Table class form.
    class Id(str, Generic[_T]):
        """A document id of the table ``_T`` names."""

    StorageId = Id[Any]

else:

    class Id(str):
        """A document id: ``Id["files"]`` or ``Id[Files]`` (the Table class) is a str that
        must name a document of table ``files``. Linters and type checkers read
        ``Id["files"]`` as a forward reference, so typed code prefers ``Id[Files]``."""

        def __class_getitem__(cls, table: Any) -> Any:
            if not (isinstance(table, str) and table) and not isinstance(table, type):
                raise ValidationError(f"Id[...] takes a table name or a Table class, got {table!r}")
            return Annotated[str, IdRef(table)]

    #: An id of a file in storage (``Id["_storage"]``).
    StorageId = Id["_storage"]
