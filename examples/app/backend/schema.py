"""The example app's tables, declared once with type hints and validated on every write.

``documents``, ``users`` and ``files`` are the seeds' storage schema: a document's file, a
user's avatar and an uploaded file are ``StorageId`` references to stored files. ``notes``
shows indexes and pagination. Each later feature (orders, reminders, workflows, jobs) adds
its tables in its own section below and its functions in its own module.
"""

from __future__ import annotations

from typing import Any, Literal, NotRequired

from mainspring import Id, ScheduledFunctionId, Schema, StorageId, Table

# -- file storage (the seed's schema) ---------------------------------------------------------


class Documents(Table):
    name: str
    file_id: StorageId


class Users(Table, indexes={"by_name": ["name"]}):
    name: str
    avatar_id: NotRequired[StorageId]


class Files(Table, indexes={"by_uploaded_by": ["uploaded_by"]}):
    """An uploaded file (the seed's ``files`` table); ``processed_storage_id`` is the resized
    image ``images:process_image`` made of it."""

    storage_id: StorageId
    name: str
    type: str
    size: int
    uploaded_by: str
    uploaded_at: float
    processed_storage_id: NotRequired[StorageId]


# -- notes: queries, mutations, actions, indexes, pagination ----------------------------------


class Notes(Table, indexes={"by_author": ["author"], "by_author_pinned": ["author", "pinned"]}):
    author: Id[Users]
    body: str
    tags: list[str]
    pinned: bool


# -- scheduled functions: orders, reminders, workflows (the seed's snippets) -----------------


class Products(Table):
    name: str
    price_cents: int
    in_stock: bool


class Orders(Table):
    """An order (``orders:create``); ``status`` moves on as its scheduled functions run."""

    items: list[Id[Products]]
    status: Literal["pending", "paid", "payment_failed", "abandoned"]
    total_cents: NotRequired[int]


class Emails(Table, indexes={"by_order": ["order_id"]}):
    """The outbox ``emails:send_order_confirmation`` writes (a stand-in for a mail API)."""

    order_id: Id[Orders]
    kind: str


class Reminders(Table):
    message: str
    remind_at: float
    sent: bool
    scheduled_id: NotRequired[ScheduledFunctionId]


class Workflows(Table):
    status: Literal["started", "completed"]
    data: Any
    result: NotRequired[Any]


schema = Schema(
    documents=Documents,
    files=Files,
    users=Users,
    notes=Notes,
    products=Products,
    orders=Orders,
    emails=Emails,
    reminders=Reminders,
    workflows=Workflows,
)
