"""The seed's "Background Jobs Pattern" in the example app, and the same on the built-in pool.

The email provider is a real HTTP server on loopback that fails twice, then accepts; its URL
and key reach the handler as deployment environment variables. Time is virtual: the seed's
2 s and 4 s backoffs pass without anyone waiting.
"""

from __future__ import annotations

import json
import threading
from collections.abc import AsyncIterator, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from mainspring.testing import TestApp
from tests.support.paths import EXAMPLE_APP

BACKEND = EXAMPLE_APP / "backend"
START = 1_700_000_000_000.0
KEY = "re_test_key"


class Provider:
    """A stand-in for ``https://api.resend.com/emails``: fails ``failures`` times, then 200."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.requests: list[dict[str, Any]] = []
        self.delivered: list[dict[str, Any]] = []
        provider = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                provider.requests.append(body)
                if self.headers["Authorization"] != f"Bearer {KEY}":
                    self._answer(401, {"error": "bad key"})
                elif len(provider.requests) <= provider.failures:
                    self._answer(503, {"error": "try later"})
                else:
                    provider.delivered.append(body)
                    self._answer(200, {"id": f"email-{len(provider.delivered)}"})

            def _answer(self, status: int, data: Any) -> None:
                raw = json.dumps(data).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            def log_message(self, *args: Any) -> None:
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/emails"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def provider() -> Iterator[Provider]:
    fake = Provider(failures=2)
    yield fake
    fake.server.shutdown()
    fake.server.server_close()


@pytest.fixture
async def app(database_url: str, provider: Provider) -> AsyncIterator[TestApp]:
    async with TestApp(BACKEND, database=database_url, start_ms=START) as t:
        await t.set_env("EMAIL_API_URL", provider.url)
        await t.set_env("EMAIL_API_KEY", KEY)
        yield t


EMAIL = {"to": "ada@example.com", "subject": "Hi", "body": "<p>Hello</p>"}


async def test_the_seed_job_queue_retries_with_backoff_then_delivers_once(
    app: TestApp, provider: Provider
) -> None:
    job_id = await app.mutation("jobs:enqueue", {"type": "send_email", "payload": EMAIL})
    await app.advance_time(0)
    assert len(provider.requests) == 1
    job = await app.runtime.call("jobs:get", {"id": job_id})
    assert (job["status"], job["attempts"]) == ("pending", 1)
    assert job["error"] == "Email send failed: 503 Service Unavailable"
    # The seed's backoff: 2^attempts seconds — 2 s after the first failure, 4 s after the second.
    await app.advance_time(1999)
    assert len(provider.requests) == 1
    await app.advance_time(1)
    assert len(provider.requests) == 2
    await app.advance_time(3999)
    assert len(provider.requests) == 2
    await app.advance_time(1)
    assert len(provider.requests) == 3
    job = await app.runtime.call("jobs:get", {"id": job_id})
    assert job["status"] == "completed"
    assert job["attempts"] == 3
    assert job["result"] == {"id": "email-1"}
    assert job["completed_at"] == START + 6000
    assert provider.delivered == [{"from": "noreply@example.com", **_wire(EMAIL)}]
    assert await app.query("jobs:list_by_status", {"status": "completed"}) == [job]
    assert await app.query(
        "jobs:list_by_status", {"status": "completed", "type": "send_email"}
    ) == [job]
    assert await app.finish_all_scheduled() == 0


async def test_the_seed_job_queue_gives_up_after_max_attempts(
    app: TestApp, provider: Provider
) -> None:
    provider.failures = 10
    job_id = await app.mutation("jobs:enqueue", {"type": "send_email", "payload": EMAIL})
    await app.finish_all_scheduled()
    job = await app.runtime.call("jobs:get", {"id": job_id})
    assert (job["status"], job["attempts"], len(provider.requests)) == ("failed", 3, 3)
    unknown = await app.mutation("jobs:enqueue", {"type": "fax", "payload": {}})
    await app.finish_all_scheduled()
    assert (await app.runtime.call("jobs:get", {"id": unknown}))["error"] == (
        "Unknown job type: fax"
    )


async def test_the_seed_process_image_job(app: TestApp, tmp_path: Path) -> None:
    resized = _resizer()
    try:
        await app.set_env("IMAGE_RESIZE_URL", resized[1])
        storage_id = await app.runtime.storage.store(b"\x89PNG....", content_type="image/png")
        ada = app.with_identity("ada")
        file_id = await ada.mutation(
            "files:save_file",
            {"storage_id": storage_id, "name": "p.png", "type": "image/png", "size": 8},
        )
        job_id = await app.mutation(
            "jobs:enqueue", {"type": "process_image", "payload": {"file_id": file_id}}
        )
        await app.finish_all_scheduled()
        job = await app.runtime.call("jobs:get", {"id": job_id})
        assert job["status"] == "completed"
        assert job["result"]["processed"] is True
        file = await app.query("files:get", {"id": file_id})
        assert file["processed_storage_id"] == job["result"]["storage_id"]
    finally:
        resized[0].shutdown()
        resized[0].server_close()


async def test_the_same_email_on_the_built_in_pool(app: TestApp, provider: Provider) -> None:
    work_id = await app.mutation("pools:queue_email", EMAIL)
    assert await app.query("pools:email_status", {"work_id": work_id}) == {
        "state": "pending",
        "previousAttempts": 0,
    }
    await app.advance_time(0)
    assert await app.query("pools:email_status", {"work_id": work_id}) == {
        "state": "pending",
        "previousAttempts": 1,
    }
    await app.finish_all_scheduled()  # through the jittered backoffs
    assert len(provider.requests) == 3
    assert len(provider.delivered) == 1
    result = {"kind": "success", "returnValue": {"id": "email-1"}}
    assert await app.query("pools:email_status", {"work_id": work_id}) == {
        "state": "finished",
        "result": result,
    }
    [sent] = await app.query("pools:sent_emails")
    assert (sent["work_id"], sent["to"], sent["result"]) == (work_id, EMAIL["to"], result)


def _wire(email: dict[str, str]) -> dict[str, str]:
    return {"to": email["to"], "subject": email["subject"], "html": email["body"]}


def _resizer() -> tuple[ThreadingHTTPServer, str]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers["Content-Length"]))
            raw = b"resized"
            self.send_response(200)
            self.send_header("Content-Type", "image/jpeg")
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)

        def log_message(self, *args: Any) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}/resize"
