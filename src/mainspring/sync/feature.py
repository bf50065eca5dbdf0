"""What live queries bring to a deployment: ``_session_requests``, the record of each
client's mutations that makes a resent one answered rather than run twice."""

from __future__ import annotations

from ..features import Feature, SystemTable
from .session_requests import TABLE

__all__ = ["FEATURE"]

FEATURE = Feature(
    "sync",
    tables=[
        SystemTable(TABLE, 9, {"by_request": ("sessionId", "requestId"), "by_time": ("at",)}),
    ],
)
