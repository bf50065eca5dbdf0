"""Index keys sort exactly like Convex values, checked against an independent oracle."""

from __future__ import annotations

import functools
import math
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from mainspring.db.keys import ABSENT, encode_value, index_key, prefix_end

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**53), max_value=2**53),
    st.floats(allow_nan=False),
    st.text(max_size=8),
    st.binary(max_size=8),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(st.text(min_size=1, max_size=4), inner, max_size=3),
    ),
    max_leaves=10,
)


def _rank(v: Any) -> int:
    if v is ABSENT:
        return 0
    if v is None:
        return 1
    if isinstance(v, bool):
        return 3
    if isinstance(v, (int, float)):
        return 2
    if isinstance(v, str):
        return 4
    if isinstance(v, bytes):
        return 5
    if isinstance(v, list):
        return 6
    return 7


def oracle(a: Any, b: Any) -> int:
    """Convex's value order, written plainly: type rank first, then by value."""
    ra, rb = _rank(a), _rank(b)
    if ra != rb:
        return -1 if ra < rb else 1
    if ra == 2:
        fa, fb = float(a), float(b)
        return (fa > fb) - (fa < fb)
    if ra in (3, 4, 5):
        return (a > b) - (a < b)
    if ra == 6:
        for x, y in zip(a, b, strict=False):
            if c := oracle(x, y):
                return c
        return (len(a) > len(b)) - (len(a) < len(b))
    if ra == 7:
        for (ka, va), (kb, vb) in zip(a.items(), b.items(), strict=False):
            if c := oracle(ka, kb) or oracle(va, vb):
                return c
        return (len(a) > len(b)) - (len(a) < len(b))
    return 0


@settings(max_examples=600)
@given(values, values)
def test_byte_order_matches_convex_order(a: Any, b: Any) -> None:
    ka, kb = encode_value(a), encode_value(b)
    expected = oracle(a, b)
    actual = (ka > kb) - (ka < kb)
    if expected == 0:
        assert ka == kb
    else:
        assert actual == expected, (a, b)


@settings(max_examples=300)
@given(st.lists(values, min_size=2, max_size=12))
def test_sorting_by_key_equals_sorting_by_oracle(items: list[Any]) -> None:
    by_key = sorted(items, key=encode_value)
    by_oracle = sorted(items, key=functools.cmp_to_key(oracle))
    assert [encode_value(v) for v in by_key] == [encode_value(v) for v in by_oracle]


@given(values, values)
def test_no_encoding_is_a_proper_prefix_of_another_scalar_sequence(a: Any, b: Any) -> None:
    # Self-delimiting: a range on (a) never swallows keys that start with a different value.
    ka, kb = encode_value(a), encode_value(b)
    if ka != kb and isinstance(a, (str, bytes, int, float)):
        assert not kb.startswith(ka)


def test_special_numbers() -> None:
    assert encode_value(-0.0) == encode_value(0.0)
    assert encode_value(-math.inf) < encode_value(-1) < encode_value(0) < encode_value(1.5)
    assert encode_value(math.inf) < encode_value(math.nan) < encode_value(False)
    assert encode_value(3) == encode_value(3.0)


def test_index_key_appends_creation_time_and_id() -> None:
    doc = {"_id": "abc", "_creationTime": 5.0, "status": "x", "n": {"a": 1}}
    key = index_key(doc, ["status", "n.a"])
    assert key == b"".join(encode_value(v) for v in ("x", 1, 5.0, "abc"))
    assert index_key(doc, ["missing"]).startswith(encode_value(ABSENT))


def test_prefix_end() -> None:
    assert prefix_end(b"\x01\x02") == b"\x01\x03"
    assert prefix_end(b"\x01\xff") == b"\x02"
    assert prefix_end(b"\xff\xff") is None
    assert prefix_end(b"") is None
