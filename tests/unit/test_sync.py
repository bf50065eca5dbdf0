"""The sync protocol's pieces in isolation: wire encodings, message parsing, change matching."""

from __future__ import annotations

import json

import pytest

from mainspring.clock import VirtualClock
from mainspring.db.read_set import ReadSet
from mainspring.db.store import WriteSet
from mainspring.sync.changes import EVERYTHING, Changes
from mainspring.sync.commit_clock import CommitClock
from mainspring.sync.messages import QueryOutcome, transition
from mainspring.sync.protocol import (
    Add,
    Authenticate,
    Connect,
    ModifyQuerySet,
    ProtocolError,
    Remove,
    StateVersion,
    canonical_path,
    decode_ts,
    encode_ts,
    parse_client_message,
)


def test_timestamps_are_base64_of_little_endian_u64() -> None:
    assert encode_ts(0) == "AAAAAAAAAAA="
    assert encode_ts(1) == "AQAAAAAAAAA="
    assert decode_ts(encode_ts(2**63 + 5)) == 2**63 + 5
    assert decode_ts("AQAAAAAAAAA=") == 1
    for bad in ("AAAA", "not base64!", 12):
        with pytest.raises(ProtocolError):
            decode_ts(bad)


def test_paths_are_canonicalised_like_the_client() -> None:
    assert canonical_path("messages:list") == "messages:list"
    assert canonical_path("messages") == "messages:default"
    assert canonical_path("dir/file.js:fn") == "dir/file:fn"


def test_client_messages_parse_with_exact_fields() -> None:
    connect = parse_client_message(
        '{"type":"Connect","sessionId":"s","connectionCount":1,"lastCloseReason":null,'
        '"clientTs":5,"maxObservedTimestamp":"AQAAAAAAAAA="}'
    )
    assert connect == Connect("s", 1, None, 1)
    first = parse_client_message(
        '{"type":"Connect","sessionId":"s","connectionCount":0,'
        '"lastCloseReason":"InitialConnect","clientTs":5}'
    )
    assert isinstance(first, Connect) and first.max_observed_ts is None
    modify = parse_client_message(
        json.dumps(
            {
                "type": "ModifyQuerySet",
                "baseVersion": 0,
                "newVersion": 1,
                "modifications": [
                    {"type": "Add", "queryId": 0, "udfPath": "m:f", "args": [{"a": 1}]},
                    {"type": "Add", "queryId": 1, "udfPath": "m:g", "args": [{}], "journal": "j"},
                    {"type": "Remove", "queryId": 0},
                ],
            }
        )
    )
    assert modify == ModifyQuerySet(
        0, 1, (Add(0, "m:f", {"a": 1}, None), Add(1, "m:g", {}, "j"), Remove(0))
    )
    logout = parse_client_message('{"type":"Authenticate","baseVersion":2,"tokenType":"None"}')
    assert logout == Authenticate(2, "None", None)


@pytest.mark.parametrize(
    ("text", "complaint"),
    [
        ("[]", "must be a JSON object"),
        ('{"type":"Nope"}', "unknown message type 'Nope'"),
        ('{"sessionId":"s"}', "unknown message type None"),
        ('{"type":"Connect","connectionCount":0}', "Connect.sessionId must be a string"),
        ('{"type":"Connect","sessionId":"s","connectionCount":true}', "connectionCount"),
        ('{"type":"ModifyQuerySet","baseVersion":0,"newVersion":1}', "must be an array"),
        (
            '{"type":"ModifyQuerySet","baseVersion":0,"newVersion":1,'
            '"modifications":[{"type":"Swap"}]}',
            "unknown query set modification 'Swap'",
        ),
        ('{"type":"Action","requestId":1,"udfPath":"a:b","args":[1]}', "one-element array"),
        ('{"type":"Authenticate","baseVersion":0,"tokenType":"Key"}', "tokenType"),
        ('{"type":"Authenticate","baseVersion":0,"tokenType":"User"}', "value must be"),
        (
            '{"type":"Mutation","requestId":1,"udfPath":"a:b","args":[{}],"componentPath":"c"}',
            "components are not supported",
        ),
    ],
)
def test_bad_client_messages_say_what_is_wrong(text: str, complaint: str) -> None:
    with pytest.raises(ProtocolError) as error:
        parse_client_message(text)
    assert complaint in str(error.value)


def test_transition_text_is_what_the_client_expects() -> None:
    outcome = QueryOutcome.success([1, {"$integer": "AQAAAAAAAAA="}], ["[LOG] hi"], None)
    text = transition(StateVersion(0, 0, 0), StateVersion(1, 0, 7), [outcome.modification(3)])
    assert json.loads(text) == {
        "type": "Transition",
        "startVersion": {"querySet": 0, "identity": 0, "ts": "AAAAAAAAAAA="},
        "endVersion": {"querySet": 1, "identity": 0, "ts": encode_ts(7)},
        "modifications": [
            {
                "type": "QueryUpdated",
                "queryId": 3,
                "value": [1, {"$integer": "AQAAAAAAAAA="}],
                "logLines": ["[LOG] hi"],
                "journal": None,
            }
        ],
    }
    failed = QueryOutcome.failure("boom", [], "j", {"code": 1}, has_data=True)
    assert json.loads("{" + failed.body + "}")["errorData"] == {"code": 1}
    assert failed != QueryOutcome.failure("boom", [], "j")
    with pytest.raises(ValueError):
        QueryOutcome.success(float("nan"), [], None)  # bare NaN would wedge the client


def test_commit_clock_never_goes_back() -> None:
    clock = VirtualClock(1_000.0)
    ticks = CommitClock(clock)
    first = ticks.now()
    assert first == 1_000 * 1_000_000
    assert ticks.now() == first + 1  # same wall time: still later
    ticks.observe(first + 1_000)
    assert ticks.now() == first + 1_001
    ticks.observe(5)  # an older observation changes nothing
    assert ticks.now() == first + 1_002


def _writes(*entries: tuple[int, bytes], ids: dict[str, str] | None = None) -> WriteSet:
    return WriteSet(documents=ids or {"d1": "messages"}, keys=list(entries))


def test_changes_meet_ranges_ids_and_missing_tables() -> None:
    reads = ReadSet(ranges=[(7, b"b", b"d"), (8, b"", None)], ids={"x"}, tables={"messages"})
    assert Changes.of(_writes((7, b"c"))).affects(reads)
    assert not Changes.of(_writes((7, b"d"))).affects(reads)  # hi is exclusive
    assert not Changes.of(_writes((7, b"a"))).affects(reads)
    assert Changes.of(_writes((8, b"zzz"))).affects(reads)  # unbounded above
    assert not Changes.of(_writes((9, b"c"))).affects(reads)  # another index
    assert Changes.of(_writes(ids={"x": "other"})).affects(reads)
    empty = ReadSet(tables={"later"}, missing_tables={"later"})
    assert Changes.of(_writes((10, b"k"), ids={"n": "later"})).affects(empty)
    assert EVERYTHING.affects(ReadSet())


def test_changes_travel_as_payloads_within_the_notify_limit() -> None:
    changes = Changes.of(_writes((7, b"\x00\xff"), (8, b"k"), ids={"d1": "messages"}))
    back = Changes.from_payload(changes.to_payload())
    assert back.keys == changes.keys and back.ids == changes.ids and back.tables == {"messages"}
    big = Changes.of(_writes(*[(7, bytes([i % 256]) * 40) for i in range(400)]))
    payload = big.to_payload()
    assert len(payload) < 8000
    coarse = Changes.from_payload(payload)
    assert coarse.coarse and coarse.tables == {"messages"}
    assert coarse.affects(ReadSet(tables={"messages"}))
    assert not coarse.affects(ReadSet(tables={"notes"}))
    assert Changes.from_payload("garbage").everything
    assert Changes.from_payload(EVERYTHING.to_payload()).everything


def test_sync_modules_import_on_their_own_without_the_http_server() -> None:
    # A fresh interpreter each: no earlier import may hide a cycle, and the socket's code
    # reaches what it shares with HTTP through mainspring.wire, never mainspring.server.
    import subprocess
    import sys

    for module in ("session", "hub", "endpoint", "live_queries", "fanout", "messages"):
        check = (
            f"import sys, mainspring.sync.{module}\n"
            "server = sorted(m for m in sys.modules if m.startswith('mainspring.server'))\n"
            "assert not server, server\n"
        )
        result = subprocess.run([sys.executable, "-c", check], capture_output=True, text=True)
        assert result.returncode == 0, result.stderr
