"""Order-preserving binary encoding of index keys.

Every index entry is stored as ``(index_id, key)`` where ``key`` encodes the indexed field
values followed by ``_creationTime`` and ``_id``. Byte-wise comparison of two keys (SQLite's
BLOB and PostgreSQL's bytea both compare with memcmp) gives Convex's value order:
absent < null < number < boolean < string < bytes < array < object. So both backends sort
and range-scan identically, and a read set is a plain byte range.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["ABSENT", "encode_value", "field_value", "index_key", "prefix_end"]


class _Absent:
    __slots__ = ()

    def __repr__(self) -> str:
        return "ABSENT"


ABSENT: Any = _Absent()

_T_ABSENT, _T_NULL, _T_NUMBER, _T_FALSE, _T_TRUE = 0x01, 0x02, 0x04, 0x05, 0x06
_T_STRING, _T_BYTES, _T_ARRAY, _T_OBJECT = 0x07, 0x08, 0x09, 0x0A


def _escape(raw: bytes) -> bytes:
    # 0x00 inside the value becomes 00 FF; 00 00 terminates, so no encoding prefixes another.
    return raw.replace(b"\x00", b"\x00\xff") + b"\x00\x00"


def _number(value: float) -> bytes:
    if value == 0.0:
        value = 0.0  # -0.0 and 0.0 are one key
    if math.isnan(value):
        return b"\xff" * 8  # NaN after every number
    bits: int = struct.unpack(">Q", struct.pack(">d", value))[0]
    bits = bits ^ 0xFFFFFFFFFFFFFFFF if bits >> 63 else bits | (1 << 63)
    return bits.to_bytes(8, "big")


def encode_value(value: Any) -> bytes:
    """Encode one value so that byte order equals Convex's value order."""
    if value is ABSENT:
        return bytes((_T_ABSENT,))
    if value is None:
        return bytes((_T_NULL,))
    if value is True:
        return bytes((_T_TRUE,))
    if value is False:
        return bytes((_T_FALSE,))
    if isinstance(value, (int, float)):
        # Python ints are JS numbers on the wire, so they sort among floats.
        return bytes((_T_NUMBER,)) + _number(float(value))
    if isinstance(value, str):
        return bytes((_T_STRING,)) + _escape(value.encode("utf-8"))
    if isinstance(value, (bytes, bytearray)):
        return bytes((_T_BYTES,)) + _escape(bytes(value))
    if isinstance(value, Mapping):
        parts = [bytes((_T_OBJECT,))]
        for key in value:
            parts.append(_escape(key.encode("utf-8")))
            parts.append(encode_value(value[key]))
        parts.append(b"\x00")
        return b"".join(parts)
    if isinstance(value, Sequence):
        return bytes((_T_ARRAY,)) + b"".join(encode_value(v) for v in value) + b"\x00"
    raise TypeError(f"cannot index a {type(value).__name__}")


def field_value(document: Mapping[str, Any], path: str) -> Any:
    """The value at a dotted field path, or ABSENT."""
    current: Any = document
    for part in path.split("."):
        if not isinstance(current, Mapping) or part not in current:
            return ABSENT
        current = current[part]
    return current


def index_key(document: Mapping[str, Any], fields: Sequence[str]) -> bytes:
    """The full key of ``document`` in an index on ``fields`` (plus creation time and id)."""
    parts = [encode_value(field_value(document, f)) for f in fields]
    parts.append(encode_value(document["_creationTime"]))
    parts.append(encode_value(document["_id"]))
    return b"".join(parts)


def prefix_end(prefix: bytes) -> bytes | None:
    """The smallest key greater than every key starting with ``prefix`` (None: no bound)."""
    raw = bytearray(prefix)
    while raw:
        if raw[-1] != 0xFF:
            raw[-1] += 1
            return bytes(raw)
        raw.pop()
    return None
