"""JSON text for responses and messages, and the two value formats a caller may ask for.

``convex_encoded_json`` (what Convex clients send, and all the WebSocket protocol speaks) is
:func:`mainspring.values.to_json`: lossless, with ``{"$integer"}``, ``{"$float"}`` and
``{"$bytes"}`` for what JSON lacks.
``json`` (the default of Convex's documented HTTP API, for curl and friends) is plain JSON:
big integers become decimal strings, bytes base64 strings, NaN and infinities strings.

The stdlib encoder is used on purpose: on the small bodies of function calls it costs a few
microseconds per response, well under 1% of a request, so a compiled JSON library would add a
dependency without a measurable gain (see the benchmark in the server's tests/report).
"""

from __future__ import annotations

import base64
import json
import math
from collections.abc import Mapping
from typing import Any, Literal

from .. import values

__all__ = ["FORMATS", "Format", "dumps", "encode", "encode_value"]

Format = Literal["convex_encoded_json", "json"]
FORMATS: frozenset[str] = frozenset(("convex_encoded_json", "json"))

_MAX_SAFE_INTEGER = 2**53

# One encoder for the process: json.dumps with options builds a new encoder per call.
# ensure_ascii keeps any str encodable (a lone surrogate would break UTF-8 output), and
# allow_nan=False turns a stray NaN into an error instead of invalid JSON.
_encoder = json.JSONEncoder(ensure_ascii=True, allow_nan=False, separators=(",", ":"))


def dumps(data: Any) -> str:
    """Compact JSON text of JSON-ready data (never a bare NaN, which breaks clients)."""
    return _encoder.encode(data)


def encode(data: Any) -> bytes:
    """Compact JSON bytes of JSON-ready data."""
    return _encoder.encode(data).encode("ascii")


def encode_value(value: Any, fmt: Format, path: str = "value") -> Any:
    """A Convex value as JSON-ready data in ``fmt``; ValidationError if it is not one."""
    if fmt == "convex_encoded_json":
        return values.to_json(value, path)
    values.check_value(value, path)
    return _plain(value)


def _plain(value: Any) -> Any:
    # Only called on checked values, so every case below is a Convex value.
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, int):
        return value if -_MAX_SAFE_INTEGER <= value <= _MAX_SAFE_INTEGER else str(value)
    if isinstance(value, float):
        if math.isfinite(value):
            return value
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    if isinstance(value, (bytes, bytearray, memoryview)):
        return base64.b64encode(bytes(value)).decode()
    if isinstance(value, Mapping):
        return {key: _plain(item) for key, item in value.items()}
    return [_plain(item) for item in value]
