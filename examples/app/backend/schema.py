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


# -- crons (backend/crons.py): what the seeds' cron jobs read and write -----------------------


class TempFiles(Table, indexes={"by_created_at": ["created_at"]}):
    """A stored file kept for a day: ``cleanup:temp_files`` deletes it and its blob after."""

    storage_id: StorageId
    created_at: float


class ExternalData(Table, indexes={"by_source": ["source"]}):
    """The latest JSON ``sync:external_data`` fetched from ``source`` (one row per source)."""

    source: str
    data: Any
    synced_at: float
    syncs: int


class DailyReports(Table, indexes={"by_day": ["day"]}):
    """``reports:generate_daily``'s summary of one UTC day; ``ran_as`` is the caller's
    subject (None in a cron: crons run without an identity)."""

    day: str
    since: float
    until: float
    notes: int
    files: int
    orders: int
    generated_at: float
    posted: bool
    ran_as: str | None


class Digests(Table):
    """A weekly digest ``emails:send_weekly_digest`` sent (a stand-in for a mail API)."""

    week_start: float
    recipients: int
    notes: int
    sent_at: float


class BillingRuns(Table, indexes={"by_period": ["period"]}):
    """One month billed by ``billing:process_monthly`` (``period`` is ``YYYY-MM``)."""

    period: str
    orders: int
    total_cents: int
    ran_at: float


class UpdateChecks(Table):
    """``updates:check``'s status: one row, the latest check and how many were made."""

    checked_at: float
    current_version: str
    checks: int


# -- WebRTC signaling (signaling.py): messages live an hour, a cron purges them ---------------


class SignalingMessages(
    Table, indexes={"by_expires_at": ["expires_at"], "by_room": ["room", "expires_at"]}
):
    """An offer, answer or ICE candidate for the peers in ``room``, until ``expires_at``."""

    room: str
    sender: str
    kind: Literal["offer", "answer", "candidate"]
    payload: Any
    expires_at: float


# -- background jobs: the seed's hand-written queue (jobs.py) and the built-in pool (pools.py)


class Jobs(Table, indexes={"by_status": ["status"], "by_type_status": ["type", "status"]}):
    """A job of the seed's "Background Jobs Pattern", written as plain user code."""

    type: str
    status: Literal["pending", "processing", "completed", "failed"]
    payload: Any
    result: NotRequired[Any]
    error: NotRequired[str]
    attempts: int
    max_attempts: int
    scheduled_at: float
    started_at: NotRequired[float]
    completed_at: NotRequired[float]


class SentEmails(Table, indexes={"by_to": ["to"]}):
    """What ``pools:email_sent`` (the email pool's ``on_complete``) recorded per email."""

    work_id: str
    to: str
    result: Any


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
    temp_files=TempFiles,
    external_data=ExternalData,
    daily_reports=DailyReports,
    digests=Digests,
    billing_runs=BillingRuns,
    update_checks=UpdateChecks,
    signaling_messages=SignalingMessages,
    jobs=Jobs,
    sent_emails=SentEmails,
)
