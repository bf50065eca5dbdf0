"""Tables of the app the HTTP API tests call."""

from __future__ import annotations

from mainspring import Schema, Table


class Messages(Table):
    body: str
    author: str


schema = Schema(messages=Messages)
