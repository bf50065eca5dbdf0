"""What HTTP and the WebSocket report the same way: a failed call's message, data and log
entry (mainspring.wire), without either transport."""

from __future__ import annotations

import json
import logging
import re

import pytest

from mainspring import AppError, ValidationError
from mainspring.wire.encoding import dumps, encode, encode_value
from mainspring.wire.failures import describe_failure


def test_an_app_error_is_the_apps_answer_not_logged(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.DEBUG, logger="mainspring.server"):
        text = describe_failure(AppError("out of stock"), "shop:buy", "json")
        data = describe_failure(AppError({"n": 2**60}), "shop:buy", "convex_encoded_json")
    assert text.fields() == {"errorMessage": "out of stock", "errorData": "out of stock"}
    assert (text.request_id, text.server_error) == (None, False)
    assert data.data == {"n": {"$integer": "AAAAAAAAABA="}}
    assert json.loads(data.message) == data.data  # as ConvexError: the data as JSON
    assert caplog.records == []


def test_framework_errors_are_shown_and_logged_as_warnings(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.DEBUG, logger="mainspring.server"):
        failure = describe_failure(ValidationError("bad body"), "notes:add", "json")
    assert failure.fields() == {"errorMessage": failure.message}
    assert failure.message == (
        f"[Request ID: {failure.request_id}] Server Error\nUncaught ValidationError: bad body"
    )
    assert not failure.server_error
    [record] = caplog.records
    assert record.levelno == logging.WARNING and failure.request_id in record.getMessage()


def test_other_exceptions_are_hidden_behind_a_logged_request_id(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.DEBUG, logger="mainspring.server"):
        crash = describe_failure(RuntimeError("secret"), "notes:add", "json")
        bad_data = describe_failure(AppError({"f": object()}), "notes:add", "json")
    for failure in (crash, bad_data):
        assert failure.server_error and failure.request_id is not None
        assert re.fullmatch(r"\[Request ID: [0-9a-f]{16}\] Server Error", failure.message)
        assert "errorData" not in failure.fields()
    assert [r.levelno for r in caplog.records] == [logging.ERROR, logging.ERROR]
    assert all(r.exc_info is not None for r in caplog.records)


def test_text_and_bytes_are_the_same_compact_json() -> None:
    value = {"a": [1, "é", None]}
    assert dumps(value) == encode(value).decode() == '{"a":[1,"\\u00e9",null]}'
    with pytest.raises(ValueError):
        dumps(float("nan"))
    assert encode_value(b"\x00\x01", "convex_encoded_json") == {"$bytes": "AAE="}
    assert encode_value(b"\x00\x01", "json") == "AAE="
