"""Convex's JSON encoding of values, ids."""

from __future__ import annotations

import math

import pytest

from mainspring import ValidationError
from mainspring.ids import decode_id, is_id, new_id
from mainspring.values import dumps, from_json, loads, to_json


def test_plain_values_stay_plain() -> None:
    value = {"a": 1, "b": 2.5, "c": "x", "d": [True, None], "e": {"f": -3}}
    assert to_json(value) == value
    assert from_json(to_json(value)) == value


def test_specials_round_trip() -> None:
    value = {"big": 2**60, "neg": -(2**62), "bytes": b"\x00\xff", "inf": math.inf}
    encoded = to_json(value)
    assert encoded["big"] == {"$integer": "AAAAAAAAABA="}
    assert set(encoded["bytes"]) == {"$bytes"}
    assert set(encoded["inf"]) == {"$float"}
    assert loads(dumps(value)) == value
    nan = from_json(to_json(math.nan))
    assert math.isnan(nan)
    negzero = from_json(to_json(-0.0))
    assert negzero == 0.0 and math.copysign(1.0, negzero) < 0


def test_small_int_is_a_js_number() -> None:
    assert to_json(2**53) == 2**53
    assert to_json(2**53 + 1) != 2**53 + 1


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ({1: "x"}, "keys must be strings"),
        ({"$x": 1}, r"may not start with '\$'"),
        (2**64, "does not fit in 64 bits"),
        ({"s": {1, 2}}, "set is not a Convex value"),
        (object(), "object is not a Convex value"),
    ],
)
def test_invalid_values_are_named(value: object, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        to_json(value)


def test_too_deep() -> None:
    value: object = 1
    for _ in range(70):
        value = [value]
    with pytest.raises(ValidationError, match="nested deeper"):
        to_json(value)


def test_malformed_special() -> None:
    with pytest.raises(ValidationError, match="base64"):
        from_json({"$bytes": "!!"})
    with pytest.raises(ValidationError, match="unknown or malformed"):
        from_json({"$integer": "AAAA"})


def test_ids_carry_their_table_and_a_checksum() -> None:
    for table in (0, 1, 127, 128, 10_000, 2**20):
        doc_id = new_id(table, 1_700_000_000_000)
        assert decode_id(doc_id) == table
        assert is_id(doc_id)
    doc_id = new_id(10_001, 1_700_000_000_000)
    flipped = doc_id[:5] + ("0" if doc_id[5] != "0" else "1") + doc_id[6:]
    assert decode_id(flipped) is None
    assert decode_id("not-an-id") is None
    assert decode_id(12) is None  # type: ignore[arg-type]


def test_ids_sort_by_creation() -> None:
    earlier = new_id(10_000, 1_700_000_000_000)
    later = new_id(10_000, 1_700_000_000_001)
    assert earlier < later
