"""The example app's tables, declared once with type hints and validated on every write.

``documents`` and ``users`` are the seed's storage schema: a document's file and a user's
avatar are ``StorageId`` references to stored files. ``notes`` shows indexes and
pagination. Each later feature (files, orders, reminders, workflows, jobs) adds its tables
in its own section below and its functions in its own module.
"""

from __future__ import annotations

from typing import NotRequired

from mainspring import Id, Schema, StorageId, Table

# -- file storage (the seed's schema) ---------------------------------------------------------


class Documents(Table):
    name: str
    file_id: StorageId


class Users(Table, indexes={"by_name": ["name"]}):
    name: str
    avatar_id: NotRequired[StorageId]


# -- notes: queries, mutations, actions, indexes, pagination ----------------------------------


class Notes(Table, indexes={"by_author": ["author"], "by_author_pinned": ["author", "pinned"]}):
    author: Id[Users]
    body: str
    tags: list[str]
    pinned: bool


schema = Schema(
    documents=Documents,
    users=Users,
    notes=Notes,
)
