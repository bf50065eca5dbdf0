"""Convex values in Python, and their JSON encoding on the wire and on disk.

A Convex value is ``None``, ``bool``, ``int``, ``float``, ``str``, ``bytes``, a ``list`` of
values, or a ``dict`` with string keys. Python ``int`` travels as a JSON number (as a JS
client's ``number``) when it fits in 53 bits and as ``{"$integer": …}`` (a JS ``bigint``)
beyond that; ``float`` specials (NaN, infinities, -0.0) use ``{"$float": …}`` and bytes
``{"$bytes": …}`` — the encoding every Convex client speaks.
"""

from __future__ import annotations

import base64
import json
import math
import struct
from collections.abc import Mapping, Sequence
from typing import Any

from .errors import ValidationError

__all__ = [
    "MAX_DOCUMENT_BYTES",
    "MAX_NESTING",
    "check_value",
    "dumps",
    "from_json",
    "loads",
    "to_json",
]

MAX_SAFE_INTEGER = 2**53
MAX_NESTING = 64
MAX_DOCUMENT_BYTES = 1 << 20
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1


def to_json(value: Any, path: str = "value") -> Any:
    """Encode a Convex value as JSON-ready Python data; ValidationError if it is not one."""
    try:
        return _fast(value, 0)
    except _Unusual:
        # Special encodings and errors: the careful walk, which knows where it is.
        return _encode(value, path, 0)


class _Unusual(Exception):
    """Raised by :func:`_fast` at anything but plain JSON data."""


_PLAIN = (str, bool, type(None))


def _fast(value: Any, depth: int) -> Any:
    # The common case (plain JSON data) without building a path string per element, which
    # costs more than the walk itself; anything else is left to _encode.
    if isinstance(value, _PLAIN):
        return value
    if type(value) is int:
        if -MAX_SAFE_INTEGER <= value <= MAX_SAFE_INTEGER:
            return value
        raise _Unusual
    if type(value) is float:
        if math.isfinite(value) and (value != 0.0 or math.copysign(1.0, value) > 0):
            return value
        raise _Unusual
    if depth >= MAX_NESTING:
        raise _Unusual
    if type(value) is dict:
        for key in value:
            if type(key) is not str or key.startswith("$"):
                raise _Unusual
        return {key: _fast(item, depth + 1) for key, item in value.items()}
    if type(value) is list or type(value) is tuple:
        return [_fast(item, depth + 1) for item in value]
    raise _Unusual


def _encode(value: Any, path: str, depth: int) -> Any:
    if depth > MAX_NESTING:
        raise ValidationError(f"{path}: nested deeper than {MAX_NESTING} levels")
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, int):
        if -MAX_SAFE_INTEGER <= value <= MAX_SAFE_INTEGER:
            return value
        if not _INT64_MIN <= value <= _INT64_MAX:
            raise ValidationError(f"{path}: integer {value} does not fit in 64 bits")
        return {"$integer": base64.b64encode(struct.pack("<q", value)).decode()}
    if isinstance(value, float):
        if math.isfinite(value) and not (value == 0.0 and math.copysign(1.0, value) < 0):
            return value
        return {"$float": base64.b64encode(struct.pack("<d", value)).decode()}
    if isinstance(value, (bytes, bytearray, memoryview)):
        return {"$bytes": base64.b64encode(bytes(value)).decode()}
    if isinstance(value, Mapping):
        out: dict[str, Any] = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise ValidationError(f"{path}: object keys must be strings, got {key!r}")
            if key.startswith("$"):
                raise ValidationError(f"{path}: field name {key!r} may not start with '$'")
            out[key] = _encode(item, f"{path}.{key}", depth + 1)
        return out
    if isinstance(value, Sequence):
        return [_encode(item, f"{path}[{i}]", depth + 1) for i, item in enumerate(value)]
    raise ValidationError(
        f"{path}: {type(value).__name__} is not a Convex value "
        "(use None, bool, int, float, str, bytes, list or dict)"
    )


def from_json(data: Any, path: str = "value") -> Any:
    """Decode JSON data in Convex's encoding back into Python values."""
    if isinstance(data, dict):
        if len(data) == 1:
            ((key, item),) = data.items()
            if key.startswith("$"):
                return _decode_special(key, item, path)
        return {k: from_json(v, f"{path}.{k}") for k, v in data.items()}
    if isinstance(data, list):
        return [from_json(v, f"{path}[{i}]") for i, v in enumerate(data)]
    return data


def _decode_special(key: str, item: Any, path: str) -> Any:
    try:
        raw = base64.b64decode(item, validate=True)
    except (TypeError, ValueError) as exc:
        raise ValidationError(f"{path}: {key} must hold base64, got {item!r}") from exc
    if key == "$bytes":
        return raw
    if key == "$integer" and len(raw) == 8:
        return struct.unpack("<q", raw)[0]
    if key == "$float" and len(raw) == 8:
        return struct.unpack("<d", raw)[0]
    raise ValidationError(f"{path}: unknown or malformed special value {key!r}")


def check_value(value: Any, path: str = "value") -> None:
    """Raise ValidationError unless ``value`` is a Convex value."""
    to_json(value, path)


def dumps(value: Any, path: str = "value") -> str:
    """Serialize a Convex value to compact JSON text in Convex's encoding."""
    return json.dumps(to_json(value, path), separators=(",", ":"), ensure_ascii=False)


def loads(text: str | bytes) -> Any:
    """Parse JSON text in Convex's encoding."""
    data = json.loads(text)
    # Special values are objects with a "$…" key: text without the two characters '"$'
    # anywhere has none, and needs no second walk (most documents).
    special = b'"$' in text if isinstance(text, bytes) else '"$' in text
    if not special:
        return data
    return from_json(data)
