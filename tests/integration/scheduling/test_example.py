"""The seed's scheduled-function snippets in the example app: orders, reminders, workflows.

All in virtual time through the harness: the 24-hour abandoned-cart check runs without
anyone waiting a day. The workflow's external call goes to a local HTTP server.
"""

from __future__ import annotations

import json
import threading
from collections.abc import AsyncIterator, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from mainspring import AppError
from mainspring.testing import TestApp
from tests.support.paths import EXAMPLE_APP

BACKEND = EXAMPLE_APP / "backend"
START = 1_700_000_000_000.0
HOUR = 60 * 60 * 1000


@pytest.fixture
async def app(database_url: str) -> AsyncIterator[TestApp]:
    async with TestApp(BACKEND, database=database_url, start_ms=START, crons=False) as t:
        yield t


@pytest.fixture
def external_api() -> Iterator[str]:
    """A local stand-in for ``https://api.example.com/process``."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            data = json.dumps({"approved": True, "path": self.path}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/process"
    server.shutdown()
    server.server_close()


async def test_an_order_is_paid_confirmed_and_not_abandoned(app: TestApp) -> None:
    book = await app.mutation("orders:add_product", {"name": "book", "price_cents": 1500})
    pen = await app.mutation("orders:add_product", {"name": "pen", "price_cents": 200})
    order = await app.mutation("orders:create", {"items": [book, pen]})
    scheduled = await app.runtime.call("_system/scheduler:list", {})
    assert sorted((r["name"], r["scheduledTime"] - START) for r in scheduled) == [
        ("emails:send_order_confirmation", 1000),
        ("orders:check_abandoned", 24 * HOUR),
        ("orders:process_payment", 0),
    ]
    await app.finish_in_progress_scheduled()  # the payment, due now
    assert (await app.query("orders:get", {"order_id": order}))["status"] == "paid"
    assert await app.runtime.call("emails:for_order", {"order_id": order}) == []
    await app.advance_time(1000)  # the confirmation
    assert await app.runtime.call("emails:for_order", {"order_id": order}) == ["confirmation"]
    await app.advance_time(24 * HOUR)  # the abandoned-cart check runs, and passes
    paid = await app.query("orders:get", {"order_id": order})
    assert paid["status"] == "paid" and paid["total_cents"] == 1700
    rows = await app.runtime.call("_system/scheduler:list", {"state": "success"})
    assert len(rows) == 3


async def test_an_unpaid_order_is_abandoned_after_a_day(app: TestApp) -> None:
    gone = await app.mutation(
        "orders:add_product", {"name": "rare", "price_cents": 9900, "in_stock": False}
    )
    order = await app.mutation("orders:create", {"items": [gone]})
    await app.advance_time(23 * HOUR)
    assert (await app.query("orders:get", {"order_id": order}))["status"] == "payment_failed"
    await app.advance_time(HOUR)
    assert (await app.query("orders:get", {"order_id": order}))["status"] == "abandoned"
    assert await app.runtime.call("emails:for_order", {"order_id": order}) == []
    with pytest.raises(AppError):
        await app.mutation("orders:create", {"items": []})


async def test_reminders_are_sent_at_their_time_unless_canceled(app: TestApp) -> None:
    first = await app.mutation(
        "reminders:create", {"message": "stand up", "remind_at": START + 2 * HOUR}
    )
    second = await app.mutation(
        "reminders:create", {"message": "sit down", "remind_at": START + 3 * HOUR}
    )
    scheduled_id = (await app.query("reminders:get", {"reminder_id": second}))["scheduled_id"]
    await app.advance_time(2 * HOUR - 1)
    assert (await app.query("reminders:get", {"reminder_id": first}))["sent"] is False
    await app.advance_time(1)
    assert (await app.query("reminders:get", {"reminder_id": first}))["sent"] is True
    await app.mutation("reminders:cancel", {"reminder_id": second})
    assert await app.query("reminders:get", {"reminder_id": second}) is None
    row = await app.runtime.call("_system/scheduler:list", {"state": "canceled"})
    assert [r["_id"] for r in row] == [scheduled_id]
    assert await app.finish_all_scheduled() == 0
    with pytest.raises(AppError, match="Reminder not found"):
        await app.mutation("reminders:cancel", {"reminder_id": second})


async def test_a_workflow_chains_a_mutation_an_action_and_a_mutation(
    app: TestApp, external_api: str
) -> None:
    await app.set_env("WORKFLOW_API_URL", external_api)
    workflow = await app.runtime.call("workflows:start_workflow", {"data": {"n": 1}})
    assert (await app.query("workflows:get", {"workflow_id": workflow}))["status"] == "started"
    assert await app.finish_all_scheduled() == 2  # step2 (the action), then step3
    done = await app.query("workflows:get", {"workflow_id": workflow})
    assert done["status"] == "completed"
    assert done["result"] == {"approved": True, "path": "/process"}
    assert done["data"] == {"n": 1}
