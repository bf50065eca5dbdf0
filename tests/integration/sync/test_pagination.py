"""``usePaginatedQuery`` over the socket: pages keep their ends, reconnects resend journals."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.support.live_server import LiveServer, live_server
from tests.support.paths import EXAMPLE_APP
from tests.support.sync_client import SyncClient

EXAMPLE = EXAMPLE_APP / "backend"


@pytest.fixture
def server(database_url: str) -> Iterator[LiveServer]:
    with live_server(database_url, EXAMPLE) as running:
        yield running


def call(server: LiveServer, path: str, args: dict[str, Any]) -> Any:
    response = httpx.post(f"{server.url}/api/mutation", json={"path": path, "args": args})
    assert response.status_code == 200, response.text
    return response.json()["value"]


def page_args(num_items: int, cursor: str | None, page_id: int) -> dict[str, Any]:
    # As the hook sends them: the user's args plus paginationOpts, camelCase.
    return {"paginationOpts": {"numItems": num_items, "cursor": cursor, "id": page_id}}


def bodies(modification: dict[str, Any]) -> list[str]:
    return [note["body"] for note in modification["value"]["page"]]


async def test_live_pages_keep_their_ends(server: LiveServer) -> None:
    author = call(server, "users:create", {"name": "Ada"})
    for n in range(5):
        call(server, "notes:add", {"author": author, "body": f"n{n}"})
    client = await SyncClient.open(server.url)
    first = (await client.add(0, "notes:feed", page_args(2, None, 1)))["modifications"][0]
    assert bodies(first) == ["n4", "n3"] and first["value"]["isDone"] is False
    journal = first["journal"]
    assert isinstance(journal, str) and journal == first["value"]["continueCursor"]
    cursor = first["value"]["continueCursor"]
    second = (await client.add(1, "notes:feed", page_args(2, cursor, 2)))["modifications"][0]
    assert bodies(second) == ["n2", "n1"]
    # A new note is newest: page 1 grows (its end stays at n3), page 2 is unchanged.
    call(server, "notes:add", {"author": author, "body": "n5"})
    update = await client.recv_type("Transition")
    changed = {m["queryId"]: m for m in update["modifications"]}
    assert list(changed) == [0]
    assert bodies(changed[0]) == ["n5", "n4", "n3"]
    assert changed[0]["journal"] == journal
    await client.close()

    # A reconnecting client resends its journals: the same pages come back, not numItems.
    again = await SyncClient.open(server.url, session_id=client.session_id, connection_count=1)
    await again.modify(
        [
            {
                "type": "Add",
                "queryId": 0,
                "udfPath": "notes:feed",
                "args": [page_args(2, None, 1)],
                "journal": journal,
            },
            {
                "type": "Add",
                "queryId": 1,
                "udfPath": "notes:feed",
                "args": [page_args(2, cursor, 2)],
                "journal": second["journal"],
            },
        ]
    )
    resumed = {m["queryId"]: m for m in (await again.recv_type("Transition"))["modifications"]}
    assert bodies(resumed[0]) == ["n5", "n4", "n3"]
    assert bodies(resumed[1]) == ["n2", "n1"]
    await again.close()


async def test_a_bad_journal_asks_the_client_to_start_over(server: LiveServer) -> None:
    client = await SyncClient.open(server.url)
    await client.modify(
        [
            {
                "type": "Add",
                "queryId": 0,
                "udfPath": "notes:feed",
                "args": [page_args(2, None, 1)],
                "journal": "garbage",
            }
        ]
    )
    failed = (await client.recv_type("Transition"))["modifications"][0]
    assert failed["type"] == "QueryFailed" and "InvalidCursor" in failed["errorMessage"]
    await client.close()
