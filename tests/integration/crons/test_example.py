"""The example app's crons (``examples/app/backend/crons.py``): every cron of the seeds, run
by the harness in virtual time, on SQLite and PostgreSQL.

Each test starts the clock just before the ticks it is about (the minutely cleanup cron runs
on every simulated minute, so simulated spans stay short). The external services — the sync
source and Lark — are real HTTP servers on 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import threading
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from click.testing import CliRunner

from mainspring import AppError, ValidationError
from mainspring.cli import cli
from mainspring.crons.runner import CronRunner
from mainspring.db.store import DocumentWriter
from mainspring.storage.local import LocalBlobStore
from mainspring.testing import TestApp
from tests.support.paths import EXAMPLE_APP

EXAMPLE = EXAMPLE_APP
BACKEND = EXAMPLE / "backend"
MINUTE = 60_000
HOUR = 60 * MINUTE
DAY = 24 * HOUR


def utc(text: str) -> float:
    """``"2024-03-31 22:00"`` (UTC) in ms since the epoch."""
    return datetime.strptime(text, "%Y-%m-%d %H:%M").replace(tzinfo=UTC).timestamp() * 1000


# 2024-04-01 is a Monday and the first of a month: the daily, weekly and monthly crons all
# have a tick that day.
SUNDAY_EVENING = utc("2024-03-31 22:00")
BEFORE_MIDNIGHT_HOUR = utc("2024-03-31 23:00")
BEFORE_MIDNIGHT = utc("2024-03-31 23:58")
MONDAY_MORNING = utc("2024-04-01 08:58")


class FakeService:
    """A local HTTP server answering every request with ``status`` and ``body`` (JSON),
    recording ``(method, path, query, headers, body)`` of each request."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.status = 200
        self.body: Any = {}
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                parts = urlsplit(self.path)
                outer.requests.append(
                    {
                        "method": self.command,
                        "path": parts.path,
                        "query": parse_qs(parts.query),
                        "authorization": self.headers.get("Authorization"),
                        "body": json.loads(raw) if raw else None,
                    }
                )
                data = (
                    outer.body if isinstance(outer.body, bytes) else json.dumps(outer.body).encode()
                )
                self.send_response(outer.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = _answer

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def source() -> Iterator[FakeService]:
    """The sync cron's external API (``SYNC_SOURCE_URL``)."""
    fake = FakeService()
    fake.body = {"items": [1, 2, 3]}
    yield fake
    fake.server.shutdown()
    fake.server.server_close()


@pytest.fixture
def lark() -> Iterator[FakeService]:
    """Lark's open API (``LARK_API_BASE``): accepts every message."""
    fake = FakeService()
    fake.body = {"code": 0, "msg": "success", "data": {"message_id": "om_1"}}
    yield fake
    fake.server.shutdown()
    fake.server.server_close()


@asynccontextmanager
async def example_app(
    database_url: str, start: float, source: FakeService, **options: Any
) -> AsyncIterator[TestApp]:
    """The example app with its crons, the clock at ``start``, syncing from ``source``
    (never the real ``api.example.com``)."""
    async with TestApp(BACKEND, database=database_url, start_ms=start, **options) as t:
        await t.set_env("SYNC_SOURCE_URL", f"{source.base}/data")
        yield t


async def crons(t: TestApp, runs: int = 50) -> dict[str, dict[str, Any]]:
    """Each cron's row from ``_system/crons:list``, by name (runs newest first)."""
    listed = await t.runtime.call("_system/crons:list", {"runs": runs})
    return {cron["name"]: cron for cron in listed}


async def only_crons(t: TestApp, *names: str) -> None:
    """Let only the named crons of the app fire (for a ``TestApp(..., crons=False)``), as
    ``TestApp`` does for all of them."""
    declared = t.runtime.app.crons
    assert declared is not None and t.crons is None
    t.crons = CronRunner(t.runtime, [declared[name] for name in names])
    await t.crons.reconcile()
    t.scheduled.participants.append(t.crons)


async def table(t: TestApp, name: str) -> list[dict[str, Any]]:
    """Every document of a table, read directly (expired or not, whatever the app shows)."""
    async with t.runtime.read_snapshot() as reader:
        return await reader.query(name).collect()


# -- the schedule: every cron of both seeds, the right number of times --------------------------


async def test_every_seed_cron_is_registered(database_url: str, source: FakeService) -> None:
    async with example_app(database_url, SUNDAY_EVENING, source) as t:
        listed = await crons(t)
    assert {name: (c["schedule"], c["function"]) for name, c in listed.items()} == {
        "cleanup temp files": ("every 1m", "cleanup:temp_files"),
        "sync external data": ("every 1h", "sync:external_data"),
        "daily report": ("0 0 * * * (UTC)", "reports:generate_daily"),
        "weekly digest": ("0 9 * * 1 (UTC)", "emails:send_weekly_digest"),
        "monthly billing": ("0 0 1 * * (UTC)", "billing:process_monthly"),
        "check for updates": ("*/15 * * * * (UTC)", "updates:check"),
        "purge expired signaling": ("every 1h", "signaling:purge_expired"),
    }
    assert {c["catchUp"] for c in listed.values()} == {"skip"}
    assert {name: c["nextRun"] for name, c in listed.items()} == {
        "cleanup temp files": SUNDAY_EVENING + MINUTE,
        "sync external data": SUNDAY_EVENING + HOUR,
        "daily report": utc("2024-04-01 00:00"),
        "weekly digest": utc("2024-04-01 09:00"),
        "monthly billing": utc("2024-04-01 00:00"),
        "check for updates": SUNDAY_EVENING + 15 * MINUTE,
        "purge expired signaling": SUNDAY_EVENING + HOUR,
    }


async def test_an_hour_over_midnight_runs_each_cron_on_schedule(
    database_url: str, source: FakeService
) -> None:
    async with example_app(database_url, BEFORE_MIDNIGHT_HOUR, source) as t:
        ran = await t.advance_time(HOUR)  # 23:00 Sunday -> 00:00 Monday, April 1st
        listed = await crons(t)
        for name, cron in listed.items():
            assert all(run["state"] == "success" for run in cron["runs"]), (name, cron["runs"])
        ticks = {name: sorted(run["tick"] for run in c["runs"]) for name, c in listed.items()}
        midnight = utc("2024-04-01 00:00")
        assert ticks["sync external data"] == ticks["purge expired signaling"] == [midnight]
        assert ticks["daily report"] == ticks["monthly billing"] == [midnight]
        assert ticks["check for updates"] == [
            BEFORE_MIDNIGHT_HOUR + q * 15 * MINUTE for q in range(1, 5)
        ]
        assert ticks["weekly digest"] == []
        # The history keeps the latest 50 runs: the cleanup cron's last 50 minutes.
        assert ticks["cleanup temp files"] == [
            BEFORE_MIDNIGHT_HOUR + m * MINUTE for m in range(60 - 49, 61)
        ]
        # 60 minutely + 4 quarter-hourly + sync + purge + the daily report + billing.
        assert ran == 60 + 4 + 1 + 1 + 1 + 1
        assert (await t.query("updates:status"))["checks"] == 4
        assert [row["syncs"] for row in await t.query("sync:data")] == [1]
        [report] = await t.query("reports:latest")
        assert report["day"] == "2024-03-31"
        [billing] = await t.query("billing:runs")
        assert billing["period"] == "2024-03"
        # Where each one goes next.
        assert listed["daily report"]["nextRun"] == utc("2024-04-02 00:00")
        assert listed["monthly billing"]["nextRun"] == utc("2024-05-01 00:00")
        assert listed["weekly digest"]["nextRun"] == utc("2024-04-01 09:00")
        assert listed["cleanup temp files"]["nextRun"] == midnight + MINUTE


async def test_calendar_crons_over_two_months(database_url: str, source: FakeService) -> None:
    # Only the daily, weekly and monthly crons (the minutely one would run 89,000 times).
    async with example_app(database_url, SUNDAY_EVENING, source, crons=False) as t:
        await only_crons(t, "daily report", "weekly digest", "monthly billing")
        ran = await t.advance_time(utc("2024-05-31 23:00") - SUNDAY_EVENING)
        # April 1st to May 31st: 61 days, 9 Mondays, two 1sts.
        assert ran == 61 + 9 + 2
        reports = await table(t, "daily_reports")
        assert [r["generated_at"] for r in reports] == [
            utc("2024-04-01 00:00") + d * DAY for d in range(61)
        ]
        digests = await t.query("emails:digests")
        assert [datetime.fromtimestamp(d["sent_at"] / 1000, UTC) for d in digests] == [
            datetime(2024, 4, day, 9, tzinfo=UTC) for day in (1, 8, 15, 22, 29)
        ] + [datetime(2024, 5, day, 9, tzinfo=UTC) for day in (6, 13, 20, 27)]
        billing = await t.query("billing:runs")
        assert [(b["period"], b["ran_at"]) for b in billing] == [
            ("2024-03", utc("2024-04-01 00:00")),
            ("2024-04", utc("2024-05-01 00:00")),
        ]


async def test_weekly_digest_runs_on_monday_at_nine(database_url: str, source: FakeService) -> None:
    async with example_app(database_url, MONDAY_MORNING, source) as t:
        ada = await t.mutation("users:create", {"name": "Ada"})
        await t.mutation("notes:add", {"author": ada, "body": "one"})
        await t.advance_time(MINUTE + 59_000)  # 08:59:59
        assert await t.query("emails:digests") == []
        await t.advance_time(1000)  # 09:00
        [digest] = await t.query("emails:digests")
        assert digest["sent_at"] == utc("2024-04-01 09:00")
        assert (digest["recipients"], digest["notes"]) == (1, 1)
        weekly = (await crons(t))["weekly digest"]
        assert [(r["tick"], r["state"]) for r in weekly["runs"]] == [
            (utc("2024-04-01 09:00"), "success")
        ]
        assert weekly["nextRun"] == utc("2024-04-08 09:00")  # the next Monday


async def test_monthly_billing_bills_last_month_on_the_first(
    database_url: str, source: FakeService
) -> None:
    async with example_app(database_url, BEFORE_MIDNIGHT, source) as t:
        book = await t.mutation("orders:add_product", {"name": "book", "price_cents": 1500})
        await t.mutation("orders:create", {"items": [book]})
        await t.advance_time(MINUTE)  # the order is paid (23:58), still March
        assert await t.query("billing:runs") == []
        await t.advance_time(MINUTE)  # midnight, April 1st
        [billing] = await t.query("billing:runs")
        assert (billing["period"], billing["orders"], billing["total_cents"]) == (
            "2024-03",
            1,
            1500,
        )
        assert billing["ran_at"] == utc("2024-04-01 00:00")
        # A second run for the same month (by hand) bills nothing twice.
        assert await t.mutation("billing:process_monthly") == billing["_id"]
        assert len(await t.query("billing:runs")) == 1


# -- cleanup temp files -------------------------------------------------------------------------


async def test_cleanup_deletes_day_old_temp_files_and_their_blobs(
    database_url: str, source: FakeService, tmp_path: Path
) -> None:
    store = LocalBlobStore(tmp_path / "blobs", fsync=False)
    start = SUNDAY_EVENING
    # Day one: no crons, so the clock can jump a day in one step.
    async with example_app(database_url, start, source, blob_store=store, crons=False) as t:
        old = await t.with_identity("ada").action("cleanup:store_temp_file", {"text": "yesterday"})
        await t.advance_time(DAY - 30_000)
        young = await t.with_identity("ada").action("cleanup:store_temp_file", {"text": "just now"})
    # The next start, 30 s before a day has passed: the cleanup cron ticks 30 s after it.
    restart = start + DAY - 30_000
    async with example_app(database_url, restart, source, blob_store=store) as t:
        assert [f["storage_id"] for f in await t.query("cleanup:list_temp_files")] == [old, young]
        await t.advance_time(MINUTE)  # (the 22:00 update check runs too)
        [run] = (await crons(t))["cleanup temp files"]["runs"]
        assert (run["tick"], run["state"]) == (restart + MINUTE, "success")
        # The day-old file is gone: its row, its URL, its metadata, its blob.
        assert [f["storage_id"] for f in await t.query("cleanup:list_temp_files")] == [young]
        assert await t.query("files:get_url", {"storage_id": old}) is None
        assert await t.query("files:get_metadata", {"storage_id": old}) is None
        assert await store.stat(old) is None
        # The young one stays until it is a day old too.
        assert await t.query("files:get_url", {"storage_id": young}) is not None
        assert await store.stat(young) is not None


async def test_cleanup_without_old_files_deletes_nothing(
    database_url: str, source: FakeService
) -> None:
    async with example_app(database_url, SUNDAY_EVENING, source) as t:
        await t.with_identity("ada").action("cleanup:store_temp_file", {"text": "fresh"})
        await t.advance_time(3 * MINUTE)
        assert len(await t.query("cleanup:list_temp_files")) == 1
        runs = (await crons(t))["cleanup temp files"]["runs"]
        assert [r["state"] for r in runs] == ["success"] * 3
        # Called directly it says how many it deleted, and prints it into its log lines.
        result = await t.runtime.run("cleanup:temp_files", {}, admin=True)
        assert result.value == 0
        assert any("Cleaned up 0 temp files" in line for line in result.log_lines)
        # Storing a temp file needs a signed-in user (the cron will delete what it names).
        with pytest.raises(AppError, match="Unauthenticated"):
            await t.action("cleanup:store_temp_file", {"text": "anonymous"})


# -- purge expired signaling --------------------------------------------------------------------


async def test_purge_deletes_only_expired_signaling_messages(
    database_url: str, source: FakeService
) -> None:
    offer = {"room": "r1", "sender": "ada", "kind": "offer", "payload": {"sdp": "v=0"}}
    answer = {"room": "r1", "sender": "bob", "kind": "answer", "payload": {"sdp": "v=0"}}
    # Before the app's first start (no crons yet): an offer that expires at 22:59.
    async with example_app(database_url, SUNDAY_EVENING - MINUTE, source, crons=False) as t:
        old = await t.mutation("signaling:send", offer)
        await t.advance_time(MINUTE)
    # Started at 22:00: the purge cron runs every hour from 23:00.
    async with example_app(database_url, SUNDAY_EVENING, source) as t:
        await t.advance_time(MINUTE)
        new = await t.mutation("signaling:send", answer)  # expires at 23:01
        other = await t.mutation("signaling:send", {**offer, "room": "r2"})  # 23:01 too
        await t.advance_time(59 * MINUTE - 1)  # 22:59:59.999: the offer has expired
        # Expired, not yet purged: hidden from readers already.
        assert [m["_id"] for m in await t.query("signaling:messages", {"room": "r1"})] == [new]
        assert {m["_id"] for m in await table(t, "signaling_messages")} == {old, new, other}
        await t.advance_time(1)  # 23:00: the purge
        assert {m["_id"] for m in await table(t, "signaling_messages")} == {new, other}
        [run] = (await crons(t))["purge expired signaling"]["runs"]
        assert (run["tick"], run["state"]) == (SUNDAY_EVENING + HOUR, "success")
        with pytest.raises(ValidationError, match="kind"):
            await t.mutation("signaling:send", {**offer, "kind": "hello"})


async def test_purge_works_in_batches(database_url: str, source: FakeService) -> None:
    async with example_app(database_url, SUNDAY_EVENING, source, crons=False) as t:
        expired = {"room": "r", "sender": "ada", "kind": "candidate", "payload": None}

        async def insert_many(writer: DocumentWriter) -> None:
            for _ in range(501):
                await writer.insert(
                    "signaling_messages", {**expired, "expires_at": SUNDAY_EVENING - 1}
                )

        await t.runtime.transact(insert_many, label="501 expired messages")
        assert await t.mutation("signaling:purge_expired") == 500
        # The run scheduled another at once, for the rest.
        assert await t.finish_in_progress_scheduled() == 1
        assert await table(t, "signaling_messages") == []


# -- sync external data -------------------------------------------------------------------------


async def test_sync_fetches_the_source(database_url: str, source: FakeService) -> None:
    async with example_app(database_url, SUNDAY_EVENING, source) as t:
        await t.advance_time(HOUR)
        [row] = await t.query("sync:data")
        assert row["source"] == f"{source.base}/data"
        assert (row["data"], row["syncs"], row["synced_at"]) == (
            {"items": [1, 2, 3]},
            1,
            SUNDAY_EVENING + HOUR,
        )
        assert [(r["method"], r["path"]) for r in source.requests] == [("GET", "/data")]
        [run] = (await crons(t))["sync external data"]["runs"]
        assert (run["tick"], run["state"]) == (SUNDAY_EVENING + HOUR, "success")
        # The next sync replaces the data (one row per source).
        source.body = {"items": [4]}
        await t.action("sync:external_data")
        [row] = await t.query("sync:data")
        assert (row["data"], row["syncs"]) == ({"items": [4]}, 2)


async def test_a_failing_source_fails_the_sync_run(database_url: str, source: FakeService) -> None:
    source.status, source.body = 503, {"error": "down"}
    async with example_app(database_url, SUNDAY_EVENING, source) as t:
        await t.advance_time(HOUR)
        [run] = (await crons(t))["sync external data"]["runs"]
        assert run["state"] == "failed"
        assert run["error"] == f"SyncError: GET {source.base}/data answered HTTP 503"
        assert await t.query("sync:data") == []
        # The other ways a source fails say what went wrong too (run here by hand).
        source.status, source.body = 200, b"<html>not json</html>"
        with pytest.raises(RuntimeError, match="did not return JSON"):
            await t.action("sync:external_data")
        await t.set_env("SYNC_SOURCE_URL", "http://127.0.0.1:9/data")  # nothing listens
        with pytest.raises(
            Exception, match=re.escape("GET http://127.0.0.1:9/data failed: ConnectError")
        ):
            await t.action("sync:external_data")
        assert await t.query("sync:data") == []


# -- daily report -------------------------------------------------------------------------------


async def test_daily_report_posts_to_lark_with_the_env_token(
    database_url: str, source: FakeService, lark: FakeService
) -> None:
    async with example_app(database_url, BEFORE_MIDNIGHT, source) as t:
        await t.set_env("LARK_TOKEN", "t-secret")
        await t.set_env("LARK_CHAT_ID", "oc_reports")
        await t.set_env("LARK_API_BASE", f"{lark.base}/open-apis")
        ada = await t.mutation("users:create", {"name": "Ada"})
        for body in ("one", "two"):
            await t.mutation("notes:add", {"author": ada, "body": body})
        await t.advance_time(2 * MINUTE)  # midnight
        [report] = await t.query("reports:latest")
        assert report["day"] == "2024-03-31"
        assert (report["notes"], report["files"], report["orders"]) == (2, 0, 0)
        assert report["posted"] is True
        assert report["ran_as"] is None  # a cron has no identity
        [request] = lark.requests
        assert request["method"] == "POST" and request["path"] == "/open-apis/im/v1/messages"
        assert request["query"] == {"receive_id_type": ["chat_id"]}
        assert request["authorization"] == "Bearer t-secret"
        assert request["body"]["receive_id"] == "oc_reports"
        assert request["body"]["msg_type"] == "text"
        text = json.loads(request["body"]["content"])["text"]
        assert text == "Daily report for 2024-03-31 (UTC): 2 notes, 0 files, 0 orders."
        # Run by a signed-in user instead, the identity would be there (and recorded).
        await t.with_identity("ada").action("reports:generate_daily")
        [again] = await t.query("reports:latest")
        assert again["ran_as"] == "ada"


async def test_daily_report_without_a_token_is_stored_not_posted(
    database_url: str, source: FakeService, lark: FakeService
) -> None:
    async with example_app(database_url, BEFORE_MIDNIGHT, source) as t:
        await t.set_env("LARK_API_BASE", f"{lark.base}/open-apis")
        await t.advance_time(2 * MINUTE)
        [report] = await t.query("reports:latest")
        assert (report["posted"], report["ran_as"]) == (False, None)
        assert lark.requests == []
        [run] = (await crons(t))["daily report"]["runs"]
        assert run["state"] == "success"


async def test_lark_refusing_the_message_fails_the_run(
    database_url: str, source: FakeService, lark: FakeService
) -> None:
    lark.body = {"code": 99991663, "msg": "Invalid access token for authorization."}
    async with example_app(database_url, BEFORE_MIDNIGHT, source) as t:
        await t.set_env("LARK_TOKEN", "t-expired")
        await t.set_env("LARK_CHAT_ID", "oc_reports")
        await t.set_env("LARK_API_BASE", f"{lark.base}/open-apis")
        await t.advance_time(2 * MINUTE)
        [run] = (await crons(t))["daily report"]["runs"]
        assert run["state"] == "failed"
        assert "Lark refused the message: Invalid access token" in run["error"]
        [report] = await t.query("reports:latest")
        assert report["posted"] is False  # stored all the same


# -- mainspring crons ls ------------------------------------------------------------------------


def test_crons_ls_lists_the_example_crons(
    database_url: str, source: FakeService, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in [n for n in os.environ if n.startswith("MAINSPRING_")]:
        monkeypatch.delenv(name)

    async def run_a_quarter_hour() -> None:
        async with example_app(database_url, SUNDAY_EVENING, source) as t:
            await t.advance_time(15 * MINUTE)

    asyncio.run(run_a_quarter_hour())  # the crons are registered when the app starts
    app = tmp_path / "app"
    shutil.copytree(EXAMPLE, app, ignore=shutil.ignore_patterns("__pycache__", ".mainspring"))
    args = ["crons", "ls", "--app", str(app), "--db", database_url]
    runner = CliRunner()
    listed = runner.invoke(cli, args, env={"COLUMNS": "250"})
    assert listed.exit_code == 0, listed.output
    for name, schedule, next_run in [
        ("cleanup temp files", "every 1m", "2024-03-31 22:16:00"),
        ("check for updates", "*/15 * * * * (UTC)", "2024-03-31 22:30:00"),
        ("daily report", "0 0 * * * (UTC)", "2024-04-01 00:00:00"),
        ("weekly digest", "0 9 * * 1 (UTC)", "2024-04-01 09:00:00"),
        ("monthly billing", "0 0 1 * * (UTC)", "2024-04-01 00:00:00"),
        ("sync external data", "every 1h", "2024-03-31 23:00:00"),
        ("purge expired signaling", "every 1h", "2024-03-31 23:00:00"),
    ]:
        [line] = [line for line in listed.output.splitlines() if name in line]
        assert schedule in line and next_run in line, line
    assert "2024-03-31 22:15:00 success" in listed.output
    as_json = runner.invoke(cli, [*args, "--json", "--runs", "1"])
    assert as_json.exit_code == 0, as_json.output
    rows = {row["name"]: row for row in json.loads(as_json.stdout)}
    assert len(rows) == 7
    assert rows["check for updates"]["runs"][0]["tick"] == SUNDAY_EVENING + 15 * MINUTE
    assert rows["daily report"]["runs"] == []
