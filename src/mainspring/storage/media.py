"""Media types of stored files: parsing, per-URL allow lists, and inline-vs-attachment.

Serving user uploads from the deployment's own origin is safe only if the browser never
renders one as a document that can run script there. So a file is shown ``inline`` only when
its type is on an allow list of types browsers render without script (raster images, audio,
video, fonts, plain text, CSV, JSON, PDF); everything else — HTML, SVG, XML, JavaScript, any
unknown type and files without a type — is served as an ``attachment`` (a download), always
with ``X-Content-Type-Options: nosniff`` so the browser cannot guess its way around it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any, Literal
from urllib.parse import quote

from ..errors import ValidationError

__all__ = [
    "check_content_type",
    "check_patterns",
    "content_disposition",
    "disposition_for",
    "parse_media_type",
    "type_allowed",
]

_TOKEN = r"[!#$%&'*+.^_`|~0-9A-Za-z-]+"
_MEDIA_TYPE = re.compile(rf"^\s*({_TOKEN})/({_TOKEN})\s*(;[^\x00-\x1f\x7f]*)?$")
_PATTERN = re.compile(rf"^({_TOKEN})/({_TOKEN}|\*)$")
_MAX_LENGTH = 255

_INLINE_TYPES = frozenset(
    {
        "image/apng",
        "image/avif",
        "image/bmp",
        "image/gif",
        "image/heic",
        "image/heif",
        "image/jpeg",
        "image/png",
        "image/tiff",
        "image/vnd.microsoft.icon",
        "image/webp",
        "image/x-icon",
        "text/plain",
        "text/csv",
        "application/json",
        "application/pdf",
    }
)
_INLINE_FAMILIES = ("audio/", "video/", "font/")
_FILENAME_UNSAFE = re.compile(r'[\x00-\x1f\x7f/\\"]')
# RFC 5987 attr-char beyond what quote() always keeps (letters, digits, "_.-~").
_ATTR_CHARS = "!#$&+^`|"


def parse_media_type(value: str | None) -> str | None:
    """``type/subtype`` (lowercase, without parameters) of a Content-Type, or None if it is
    missing or not a media type."""
    if not value or len(value) > _MAX_LENGTH:
        return None
    match = _MEDIA_TYPE.match(value)
    return None if match is None else f"{match[1]}/{match[2]}".lower()


def check_content_type(content_type: Any) -> str | None:
    """A stored file's content type as given (stripped): None, or a media type such as
    ``image/png`` (parameters allowed); ValidationError otherwise."""
    if content_type is None:
        return None
    if not isinstance(content_type, str):
        raise ValidationError(f"content_type must be a string, got {type(content_type).__name__}")
    if parse_media_type(content_type) is None:
        raise ValidationError(f"{content_type!r} is not a media type such as image/png")
    return content_type.strip()


def check_patterns(patterns: Sequence[str]) -> list[str]:
    """Normalized allow-list entries (``image/png``, ``image/*``, ``*/*``); ValueError if bad."""
    out = []
    for pattern in patterns:
        text = pattern.strip().lower() if isinstance(pattern, str) else ""
        if text != "*/*" and not _PATTERN.match(text):
            raise ValueError(f"{pattern!r} is not a media type or a pattern such as image/*")
        out.append(text)
    return out


def type_allowed(media_type: str | None, patterns: Sequence[str]) -> bool:
    """True if ``media_type`` matches one of ``patterns`` (a missing type matches none)."""
    if media_type is None:
        return False
    family = media_type.split("/", 1)[0] + "/*"
    return any(p in ("*/*", media_type, family) for p in patterns)


def disposition_for(media_type: str | None) -> Literal["inline", "attachment"]:
    """``inline`` for types a browser renders without running script, else ``attachment``."""
    if media_type is not None and (
        media_type in _INLINE_TYPES or media_type.startswith(_INLINE_FAMILIES)
    ):
        return "inline"
    return "attachment"


def _safe_filename(filename: str) -> str:
    name = _FILENAME_UNSAFE.sub("_", filename).strip() or "file"
    return name[:_MAX_LENGTH]


def content_disposition(kind: str, filename: str) -> str:
    """A ``Content-Disposition`` value with an ASCII fallback and an RFC 5987 ``filename*``."""
    name = _safe_filename(filename)
    fallback = name.encode("ascii", "replace").decode("ascii").replace("?", "_")
    encoded = quote(name, safe=_ATTR_CHARS)
    return f"{kind}; filename=\"{fallback}\"; filename*=UTF-8''{encoded}"
