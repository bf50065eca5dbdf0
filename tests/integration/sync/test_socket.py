"""The sync protocol on the wire: a real server, a bare WebSocket client, exact messages."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import jwt
import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus

from mainspring.sync import endpoint as sync_endpoint
from mainspring.sync.protocol import encode_ts
from tests.support.live_server import LiveServer, live_server
from tests.support.sync_client import SyncClient, decode_ts, ws_url

SECRET = "http-api-test-secret-0123456789-abcdef"  # tests/apps/http_api_backend/auth.py
ISSUER = "https://issuer.test"


def token(subject: str = "ada", **claims: object) -> str:
    now = time.time()
    payload = {"sub": subject, "iss": ISSUER, "iat": now, "exp": now + 600, **claims}
    return jwt.encode(payload, SECRET, algorithm="HS256")


@pytest.fixture
def server(database_url: str) -> Iterator[LiveServer]:
    with live_server(database_url) as running:
        yield running


def http_mutation(server: LiveServer, path: str, args: dict[str, object]) -> object:
    response = httpx.post(f"{server.url}/api/mutation", json={"path": path, "args": args})
    assert response.status_code == 200, response.text
    return response.json()["value"]


async def test_subscribe_mutate_and_see_the_write(server: LiveServer) -> None:
    client = await SyncClient.open(server.url)
    first = await client.add(0, "calls:list_messages")
    assert first["startVersion"] == {"querySet": 0, "identity": 0, "ts": "AAAAAAAAAAA="}
    assert first["endVersion"]["querySet"] == 1
    assert first["modifications"] == [
        {"type": "QueryUpdated", "queryId": 0, "value": [], "logLines": [], "journal": None}
    ]
    await client.mutation(0, "calls:send", {"body": "hello"})
    response = await client.recv_type("MutationResponse")
    assert response["success"] is True and response["requestId"] == 0
    assert any("sending hello" in line for line in response["logLines"])
    committed = decode_ts(response["ts"])
    # Then the Transition that reflects it: later ts, the new value.
    reflected = await client.recv_type("Transition")
    assert decode_ts(reflected["endVersion"]["ts"]) >= committed
    assert reflected["modifications"][0]["value"] == ["hello"]
    # The re-run was started by the mutation's commit but is not part of it: no log lines.
    assert reflected["modifications"][0]["logLines"] == []
    await client.close()


async def test_no_transition_showing_a_mutation_overtakes_its_response(
    server: LiveServer,
) -> None:
    """Between a mutation's commit and its response, another commit re-runs the query: the
    Transition (which shows both writes) waits until the MutationResponse is out."""
    client = await SyncClient.open(server.url)
    await client.add(0, "calls:list_messages")
    await client.mutation(0, "calls:send_slowly", {"body": "mine", "pause_ms": 600})
    await asyncio.sleep(0.2)  # committed, and now in its after-commit pause
    await asyncio.to_thread(http_mutation, server, "calls:send", {"body": "theirs"})
    response = await client.recv_type("MutationResponse")
    assert response["success"] is True
    reflected = await client.recv_type("Transition")
    assert decode_ts(reflected["endVersion"]["ts"]) >= decode_ts(response["ts"])
    seen = sorted(reflected["modifications"][0]["value"])
    # SQLite also notices its own file change: a re-run between the two commits may show
    # "mine" alone (held until the response too); "theirs" then comes in the next one.
    if seen == ["mine"]:
        seen = sorted((await client.recv_type("Transition"))["modifications"][0]["value"])
    assert seen == ["mine", "theirs"]
    await client.close()


async def test_other_connections_get_only_changed_queries(server: LiveServer) -> None:
    watcher = await SyncClient.open(server.url)
    await watcher.add(0, "calls:list_messages")
    await watcher.add(1, "calls:add", {"a": 1, "b": 2})
    http_mutation(server, "calls:send", {"body": "from http"})
    update = await watcher.recv_type("Transition")
    assert [m["queryId"] for m in update["modifications"]] == [0]
    assert update["modifications"][0]["value"] == ["from http"]
    # A query that reads nothing the commit touched is not re-sent, and nothing else comes.
    await watcher.silent(0.3)
    await watcher.close()


async def test_patch_of_unindexed_field_reaches_a_range_reader(server: LiveServer) -> None:
    # Only the document's value changes, no index key: the range read must still notice.
    message_id = http_mutation(server, "calls:send", {"body": "v1"})
    client = await SyncClient.open(server.url)
    await client.add(0, "calls:list_messages")
    await asyncio.to_thread(http_mutation, server, "calls:rename", {"id": message_id, "body": "v2"})
    update = await client.recv_type("Transition")
    assert update["modifications"][0]["value"] == ["v2"]
    await client.close()


async def test_remove_and_failed_queries(server: LiveServer) -> None:
    client = await SyncClient.open(server.url)
    failed = await client.add(0, "calls:fail_with", {"data": {"code": 7}})
    modification = failed["modifications"][0]
    assert modification["type"] == "QueryFailed"
    assert modification["errorData"] == {"code": 7}
    assert any("failing on purpose" in line for line in modification["logLines"])
    assert modification["journal"] is None
    missing = await client.add(1, "calls:nope")
    assert missing["modifications"][0]["type"] == "QueryFailed"
    assert "calls:nope" in missing["modifications"][0]["errorMessage"]
    await client.modify([{"type": "Remove", "queryId": 0}])
    removed = await client.recv_type("Transition")
    assert removed["modifications"] == [{"type": "QueryRemoved", "queryId": 0}]
    await client.close()


async def test_resent_mutation_runs_once(server: LiveServer) -> None:
    client = await SyncClient.open(server.url)
    await client.mutation(5, "calls:send", {"body": "once"})
    first = await client.recv_type("MutationResponse")
    await client.close()
    # Reconnect with the same session, resend the same request: the stored result answers.
    again = await SyncClient.open(server.url, session_id=client.session_id, connection_count=1)
    await again.mutation(5, "calls:send", {"body": "once"})
    second = await again.recv_type("MutationResponse")
    assert second["success"] and second["result"] == first["result"]
    assert decode_ts(second["ts"]) >= decode_ts(first["ts"])
    await again.recv_type("Transition")  # reflects the (replayed) mutation
    listing = await again.add(0, "calls:list_messages")
    assert listing["modifications"][0]["value"] == ["once"]
    # Another session with the same request id is another request.
    other = await SyncClient.open(server.url)
    await other.mutation(5, "calls:send", {"body": "once"})
    assert (await other.recv_type("MutationResponse"))["result"] != first["result"]
    for c in (again, other):
        await c.close()


async def test_failed_mutation_and_action(server: LiveServer) -> None:
    client = await SyncClient.open(server.url)
    await client.mutation(0, "calls:bad_insert", {})
    failure = await client.recv_type("MutationResponse")
    assert failure["success"] is False and isinstance(failure["result"], str)
    assert "ts" not in failure
    await client.send(
        {
            "type": "Action",
            "requestId": 1,
            "udfPath": "calls:send_and_count",
            "args": [{"body": "a"}],
        }
    )
    action = await client.recv_type("ActionResponse")
    assert action == {**action, "requestId": 1, "success": True, "result": 1}
    await client.close()


async def test_timestamps_honour_what_the_client_saw(server: LiveServer) -> None:
    future = time.time_ns() + 3_600 * 10**9
    client = await SyncClient.open(server.url, max_observed=encode_ts(future))
    answer = await client.add(0, "calls:list_messages")
    assert decode_ts(answer["endVersion"]["ts"]) > future
    await client.close()


async def test_auth_bumps_identity_and_reruns_queries(server: LiveServer) -> None:
    client = await SyncClient.open(server.url)
    assert (await client.add(0, "calls:whoami"))["modifications"][0]["value"] is None
    await client.authenticate(token("ada"))
    signed_in = await client.recv_type("Transition")
    assert signed_in["endVersion"]["identity"] == 1
    assert signed_in["modifications"][0]["value"]["subject"] == "ada"
    await client.authenticate(token("bob"))  # a refreshed token on the same socket
    refreshed = await client.recv_type("Transition")
    assert refreshed["endVersion"]["identity"] == 2
    assert refreshed["modifications"][0]["value"]["subject"] == "bob"
    await client.authenticate(None)
    logged_out = await client.recv_type("Transition")
    assert logged_out["endVersion"]["identity"] == 3
    assert logged_out["modifications"][0]["value"] is None
    await client.close()


async def test_bad_token_gets_auth_error_and_close(server: LiveServer) -> None:
    client = await SyncClient.open(server.url)
    await client.authenticate("not-a-jwt")
    error = await client.recv_type("AuthError")
    assert error["baseVersion"] == 0 and error["authUpdateAttempted"] is True
    with pytest.raises(ConnectionClosed):
        await client.recv(2)


async def test_expired_token_is_reported(server: LiveServer) -> None:
    client = await SyncClient.open(server.url)
    await client.authenticate(token("ada", exp=time.time() + 1))
    await client.recv_type("Transition")
    await asyncio.sleep(1.2)
    await client.modify([{"type": "Add", "queryId": 0, "udfPath": "calls:whoami", "args": [{}]}])
    expired = await client.recv_type("AuthError")
    assert expired["authUpdateAttempted"] is False and expired["baseVersion"] == 1
    await client.recv_type("Transition")
    await client.close()


@pytest.mark.parametrize(
    ("frame", "reason"),
    [
        ("{not json", "not valid JSON"),
        ('{"type": "Subscribe"}', "unknown message type 'Subscribe'"),
        (
            '{"type": "ModifyQuerySet", "baseVersion": 3, "newVersion": 4, "modifications": []}',
            "BaseVersionMismatch",
        ),
        (
            '{"type": "Mutation", "requestId": -1, "udfPath": "calls:send", "args": [{}]}',
            "Mutation.requestId must be a u32",
        ),
        (
            '{"type": "Mutation", "requestId": 1, "udfPath": "calls:send", "args": {}}',
            "one-element array",
        ),
    ],
)
async def test_bad_input_closes_only_that_connection(
    server: LiveServer, frame: str, reason: str
) -> None:
    bystander = await SyncClient.open(server.url)
    await bystander.add(0, "calls:list_messages")
    offender = await SyncClient.open(server.url)
    await offender.send(frame)
    fatal = await offender.recv_type("FatalError")
    assert reason in fatal["error"]
    with pytest.raises(ConnectionClosed) as closed:
        await offender.recv(2)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1008
    assert reason[:20] in closed.value.rcvd.reason
    http_mutation(server, "calls:send", {"body": "still here"})
    update = await bystander.recv_type("Transition")
    assert update["modifications"][0]["value"] == ["still here"]
    await bystander.close()


async def test_huge_frame_is_refused(server: LiveServer) -> None:
    client = await SyncClient.open(server.url)
    await client.send(json.dumps({"type": "Event", "event": "x" * (9 * 1024 * 1024)}))
    with pytest.raises(ConnectionClosed) as closed:
        while True:
            await client.recv(10)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009


async def test_version_in_the_path_is_checked(server: LiveServer) -> None:
    with pytest.raises(InvalidStatus) as refused:
        await SyncClient.open(server.url.replace("http://", "http://") + "/x", max_size=None)
    assert refused.value.response.status_code in (400, 403, 404)
    from websockets.asyncio.client import connect

    for version, word in (("abc", "InvalidVersion"), ("0.10.0", "ClientVersionUnsupported")):
        with pytest.raises(InvalidStatus) as bad:
            await connect(ws_url(server.url, version))
        assert bad.value.response.status_code == 400
        assert word.encode() in bad.value.response.body
    # The bare path and any valid version work.
    plain = await connect(server.url.replace("http://", "ws://") + "/api/sync")
    await plain.close()


async def test_idle_connection_gets_pings(
    server: LiveServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sync_endpoint, "PING_AFTER_S", 0.2)
    client = await SyncClient.open(server.url)
    assert (await client.recv(3))["type"] == "Ping"
    await client.close()


@pytest.mark.postgres
async def test_commits_reach_subscribers_of_another_process(pg_url: str) -> None:
    with live_server(pg_url) as writer, live_server(pg_url) as reader:
        watcher = await SyncClient.open(reader.url)
        await watcher.add(0, "calls:list_messages")
        for n, body in enumerate(["one", "two", "three"], start=1):
            await asyncio.to_thread(http_mutation, writer, "calls:send", {"body": body})
            # Skip Transitions from coarse "anything may have changed" notices.
            while True:
                update = await watcher.recv_type("Transition")
                if update["modifications"]:
                    values = update["modifications"][0]["value"]
                    if len(values) == n:
                        break
            assert values[-1] == body
        await watcher.close()


async def test_sqlite_commits_of_another_process_reach_subscribers(tmp_path: Path) -> None:
    # Two servers on one SQLite file stand for `mainspring dev` plus `mainspring run`.
    database = tmp_path / "db.sqlite3"
    with live_server(database) as writer, live_server(database) as reader:
        watcher = await SyncClient.open(reader.url)
        await watcher.add(0, "calls:list_messages")
        await asyncio.to_thread(http_mutation, writer, "calls:send", {"body": "elsewhere"})
        update = await watcher.recv_type("Transition")
        assert update["modifications"][0]["value"] == ["elsewhere"]
        await watcher.close()


def test_clock_survives_a_restart(tmp_path: Path) -> None:
    async def last_ts(url: str) -> int:
        client = await SyncClient.open(url)
        answer = await client.add(0, "calls:list_messages")
        await client.close()
        return decode_ts(answer["endVersion"]["ts"])

    database = tmp_path / "db.sqlite3"
    with live_server(database) as first:
        future = time.time_ns() + 3_600 * 10**9

        async def push_clock() -> None:
            client = await SyncClient.open(first.url, max_observed=encode_ts(future))
            await client.add(0, "calls:list_messages")
            await client.close()

        asyncio.run(push_clock())
    with live_server(database) as second:
        assert asyncio.run(last_ts(second.url)) > future
