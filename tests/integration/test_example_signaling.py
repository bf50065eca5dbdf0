"""The seed's TURN-credentials action, against a local server standing in for Cloudflare."""

from __future__ import annotations

import json
import threading
from collections.abc import AsyncIterator, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from mainspring.testing import TestApp
from tests.support.paths import EXAMPLE_APP

BACKEND = EXAMPLE_APP / "backend"
ICE = [
    {"urls": ["turn:turn.cloudflare.com:3478?transport=udp"], "username": "u", "credential": "c"}
]


class FakeCloudflare:
    def __init__(self) -> None:
        self.requests: list[tuple[str, str | None, Any]] = []
        self.status = 201
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                outer.requests.append((self.path, self.headers.get("Authorization"), body))
                data = json.dumps({"iceServers": ICE}).encode()
                self.send_response(outer.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def cloudflare() -> Iterator[FakeCloudflare]:
    fake = FakeCloudflare()
    yield fake
    fake.server.shutdown()
    fake.server.server_close()


@pytest.fixture
async def app() -> AsyncIterator[TestApp]:
    async with TestApp(BACKEND, crons=False) as t:
        yield t


async def test_stun_only_without_credentials(app: TestApp) -> None:
    config = await app.action("signaling:turn_config")
    assert config == {"iceServers": [{"urls": ["stun:stun.cloudflare.com:3478"]}]}


async def test_turn_credentials_from_cloudflare(app: TestApp, cloudflare: FakeCloudflare) -> None:
    await app.set_env("CLOUDFLARE_TURN_TOKEN_ID", "key-123")
    await app.set_env("CLOUDFLARE_TURN_API_TOKEN", "token-abc")
    await app.set_env("CLOUDFLARE_TURN_API_BASE", cloudflare.url)
    config = await app.action("signaling:turn_config")
    assert config == {"iceServers": ICE}
    path, authorization, body = cloudflare.requests[0]
    assert path == "/v1/turn/keys/key-123/credentials/generate-ice-servers"
    assert authorization == "Bearer token-abc"
    assert body == {"ttl": 86_400}


async def test_falls_back_to_stun_when_cloudflare_fails(
    app: TestApp, cloudflare: FakeCloudflare
) -> None:
    cloudflare.status = 500
    await app.set_env("CLOUDFLARE_TURN_TOKEN_ID", "key-123")
    await app.set_env("CLOUDFLARE_TURN_API_TOKEN", "token-abc")
    await app.set_env("CLOUDFLARE_TURN_API_BASE", cloudflare.url)
    config = await app.action("signaling:turn_config")
    assert config["iceServers"][0]["urls"] == ["stun:stun.cloudflare.com:3478"]
    assert len(cloudflare.requests) == 1


async def test_falls_back_when_unreachable(app: TestApp) -> None:
    await app.set_env("CLOUDFLARE_TURN_TOKEN_ID", "key-123")
    await app.set_env("CLOUDFLARE_TURN_API_TOKEN", "token-abc")
    await app.set_env("CLOUDFLARE_TURN_API_BASE", "http://127.0.0.1:9/v1")
    config = await app.action("signaling:turn_config")
    assert "username" not in config["iceServers"][0]
