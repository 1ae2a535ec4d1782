"""Validation rules of SPEC section 1: each bound at its edge and one past it."""

from __future__ import annotations

import json
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hunt.domain.errors import (
    MissingField,
    NotAnObject,
    NotJson,
    OutOfRange,
    Rejected,
    TooLarge,
    UnknownKind,
    WrongType,
)
from hunt.domain.events import (
    DEFAULT_LIMITS,
    MAX_DEPTH,
    Limits,
    parse_behavior,
    parse_inventory,
)

BEHAVIOR = {
    "event_id": "b-1",
    "ts": 1,
    "product_id": "p-1",
    "kind": "purchase",
    "qty": 2,
    "price": 19.99,
}
INVENTORY = {
    "event_id": "i-1",
    "ts": 1,
    "product_id": "p-1",
    "warehouse": "w-1",
    "kind": "restock",
    "qty": 4,
}
BIG = 2**64 + 1  # beyond 64 bits: orjson alone would read it as a float


def dumps(obj: Any) -> bytes:
    """JSON text of ``obj``; the stdlib writes integers of any size exactly."""
    return json.dumps(obj, ensure_ascii=False).encode("utf-8", "surrogatepass")


def b(**changes: object) -> bytes:
    return dumps({**BEHAVIOR, **changes})


def i(**changes: object) -> bytes:
    return dumps({**INVENTORY, **changes})


def with_number(raw: bytes, name: str, literal: bytes) -> bytes:
    """``raw`` with field ``name`` set to a number literal json.dumps cannot write."""
    obj = orjson.loads(raw)
    obj[name] = 0
    return orjson.dumps(obj).replace(f'"{name}":0'.encode(), f'"{name}":'.encode() + literal)


def code_of(parse: Any, raw: bytes | None, **kwargs: Any) -> str | None:
    try:
        parse(raw, **kwargs)
    except Rejected as exc:
        return exc.code
    return None


def test_valid_records_parse_with_defaults_and_nulls_dropped() -> None:
    ev = parse_behavior(
        orjson.dumps(
            {
                "event_id": "b",
                "ts": 0,
                "product_id": "p",
                "kind": "view",
                "user_id": None,
                "price": None,
                "qty": None,
                "extra": [1],
            }
        )
    )
    assert ev["qty"] == 1 and "user_id" not in ev and "price" not in ev
    assert parse_inventory(i())["qty"] == 4


@pytest.mark.parametrize(
    ("raw", "error"),
    [
        (b"{not json", NotJson),
        (b"\xff\xfe", NotJson),
        (b"", NotJson),
        (None, NotJson),
        (b"[1, 2]", NotAnObject),
        (b'"text"', NotAnObject),
        (b"null", NotAnObject),
        (b(product_id=None), MissingField),
        (orjson.dumps({k: v for k, v in BEHAVIOR.items() if k != "event_id"}), MissingField),
        (b(kind="purchase", price=None), MissingField),
        (b(kind=None), MissingField),
        (b(qty=1.0), WrongType),
        (b(qty="1"), WrongType),
        (b(qty=True), WrongType),
        (b(ts="1"), WrongType),
        (b(ts=1.0), WrongType),
        (b(ts=True), WrongType),
        (b(price="1.00"), WrongType),
        (b(price=True), WrongType),
        (b(price=[1]), WrongType),
        (b(user_id=5), WrongType),
        (b(session_id=False), WrongType),
        (b(product_id=7), WrongType),
        (b(event_id=["x"]), WrongType),
        (b(kind=1), WrongType),
        (b(kind={"a": 1}), WrongType),
        (b(qty=0), OutOfRange),
        (b(ts=-1), OutOfRange),
        (b(price=-0.01), OutOfRange),
        (b(event_id=""), OutOfRange),
        (b(product_id=""), OutOfRange),
        (b(kind="refund"), UnknownKind),
        (b(kind="VIEW"), UnknownKind),
    ],
)
def test_bad_behavior_records_are_rejected_with_their_code(
    raw: bytes | None, error: type[Rejected]
) -> None:
    with pytest.raises(error) as info:
        parse_behavior(raw)
    assert info.value.code == error.code and info.value.message


def test_ids_of_128_characters_and_price_zero_are_fine() -> None:
    parse_behavior(b(event_id="x" * 128, product_id="p" * 128, price=0))


# (field, value at its bound, value one past it) for every bounded behaviour field.
BEHAVIOR_EDGES: list[tuple[str, Any, Any]] = [
    ("event_id", "e" * 128, "e" * 129),
    ("event_id", "\U0001f600" * 128, "\U0001f600" * 129),  # chars, not UTF-8 bytes
    ("product_id", "p" * 128, "p" * 129),
    ("user_id", "u" * 128, "u" * 129),
    ("session_id", "s" * 128, "s" * 129),
    ("ts", 0, -1),
    ("ts", 2**53 - 1, 2**53),
    ("qty", 1, 0),
    ("qty", 1_000_000, 1_000_001),
    ("price", 0, -1),
    ("price", 1_000_000_000, 1_000_000_001),
    ("price", 1e9, 1e9 + 1e-6),
    ("price", 0.0, -5e-324),
]


@pytest.mark.parametrize(("name", "edge", "past"), BEHAVIOR_EDGES)
def test_behavior_bounds_hold_at_the_edge_and_reject_one_past(
    name: str, edge: Any, past: Any
) -> None:
    assert parse_behavior(b(**{name: edge}))[name] == edge
    with pytest.raises(OutOfRange):
        parse_behavior(b(**{name: past}))


INVENTORY_EDGES: list[tuple[str, Any, Any]] = [
    ("restock", 1, 0),
    ("restock", 1_000_000_000, 1_000_000_001),
    ("sale", 1, 0),
    ("sale", 1_000_000_000, 1_000_000_001),
    ("adjust", 1, 0),
    ("adjust", -1, 0),
    ("adjust", 1_000_000_000, 1_000_000_001),
    ("adjust", -1_000_000_000, -1_000_000_001),
    ("count", 0, -1),
    ("count", 1_000_000_000, 1_000_000_001),
]


@pytest.mark.parametrize(("kind", "edge", "past"), INVENTORY_EDGES)
def test_inventory_qty_bounds_per_kind(kind: str, edge: int, past: int) -> None:
    assert parse_inventory(i(kind=kind, qty=edge))["qty"] == edge
    with pytest.raises(OutOfRange):
        parse_inventory(i(kind=kind, qty=past))


def test_warehouse_is_one_to_128_characters() -> None:
    parse_inventory(i(warehouse="w" * 128))
    parse_inventory(i(warehouse="\x00"))
    for bad, error in [("", OutOfRange), ("w" * 129, OutOfRange), (3, WrongType)]:
        with pytest.raises(error):
            parse_inventory(i(warehouse=bad))
    with pytest.raises(MissingField):
        parse_inventory(i(warehouse=None))


@pytest.mark.parametrize(
    ("raw", "error"),
    [
        (i(qty=None), MissingField),
        (orjson.dumps({k: v for k, v in INVENTORY.items() if k != "qty"}), MissingField),
        (i(kind="move"), UnknownKind),
        (i(qty=2.0), WrongType),
        (i(qty="2"), WrongType),
        (i(qty=False), WrongType),
    ],
)
def test_bad_inventory_records_are_rejected(raw: bytes, error: type[Rejected]) -> None:
    with pytest.raises(error):
        parse_inventory(raw)


@pytest.mark.parametrize(
    "literal",
    [str(BIG), str(-BIG), str(2**64), str(-(2**63) - 1), "1" + "0" * 400, "-" + "9" * 5001],
    ids=["2^64+1", "-(2^64+1)", "2^64", "-2^63-1", "10^400", "-(10^5001-1)"],
)
@pytest.mark.parametrize("name", ["ts", "qty"])
def test_integers_beyond_64_bits_are_out_of_range_not_another_code(name: str, literal: str) -> None:
    for parse, raw in [(parse_behavior, b()), (parse_inventory, i())]:
        text = with_number(raw, name, literal.encode())
        with pytest.raises(OutOfRange, match="beyond 64 bits"):
            parse(text)


@pytest.mark.parametrize("value", [2**63, 2**64 - 1, -(2**63)])
def test_integers_within_64_bits_but_past_a_bound_are_out_of_range(value: int) -> None:
    assert code_of(parse_behavior, b(ts=value)) == "out_of_range"
    assert code_of(parse_inventory, i(kind="adjust", qty=value)) == "out_of_range"


@pytest.mark.parametrize("literal", [b"1e19", b"1.8446744073709552e19", b"-1e300", b"1e400"])
def test_float_literals_are_not_integers_however_large(literal: bytes) -> None:
    assert code_of(parse_behavior, with_number(b(), "qty", literal)) == "wrong_type"
    assert code_of(parse_inventory, with_number(i(), "ts", literal)) == "wrong_type"


@pytest.mark.parametrize("literal", [b"1e400", b"-1e400", b"1e308", b"-0.0", b"5e-324", b"1e-400"])
def test_extreme_prices(literal: bytes) -> None:
    value = float(literal)
    expected = None if 0 <= value <= 1e9 else "out_of_range"
    assert code_of(parse_behavior, with_number(b(), "price", literal)) == expected
    big = str(BIG).encode()
    assert code_of(parse_behavior, with_number(b(), "price", big)) == "out_of_range"


@pytest.mark.parametrize("literal", [b"NaN", b"Infinity", b"-Infinity", b"nan", b"inf"])
def test_nan_and_infinity_literals_are_not_json(literal: bytes) -> None:
    assert code_of(parse_behavior, with_number(b(), "price", literal)) == "invalid_json"
    assert code_of(parse_behavior, with_number(b(), "extra", literal)) == "invalid_json"


def test_an_overflowing_number_in_an_unknown_field_is_ignored() -> None:
    assert parse_behavior(with_number(b(), "extra", b"1e400"))["qty"] == 2
    assert parse_behavior(with_number(b(), "extra", b"9" * 10_000))["qty"] == 2


def test_the_slow_decoding_path_keeps_orjsons_other_rules() -> None:
    # Each of these holds 1e400, so orjson refuses it and the stdlib decodes it.
    def holding_1e400(body: bytes) -> bytes:
        return with_number(b(), "extra", b"1e400")[:-1] + b',"more":' + body + b"}"

    assert code_of(parse_behavior, holding_1e400(b'"\\ud800"')) == "invalid_json"
    assert code_of(parse_behavior, holding_1e400(b'"\\udc00\\ud800"')) == "invalid_json"
    assert code_of(parse_behavior, holding_1e400(b'{"\\ud800": 1}')) == "invalid_json"
    assert code_of(parse_behavior, holding_1e400(b'"\\ud83d\\ude00"')) is None  # a valid pair
    assert code_of(parse_behavior, holding_1e400(b"NaN")) == "invalid_json"
    # The outer object is one level, so MAX_DEPTH - 1 more fit and MAX_DEPTH do not.
    fits = b"[" * (MAX_DEPTH - 1) + b"]" * (MAX_DEPTH - 1)
    deep = b"[" * MAX_DEPTH + b"]" * MAX_DEPTH
    assert code_of(parse_behavior, holding_1e400(fits)) is None
    assert code_of(parse_behavior, holding_1e400(deep)) == "invalid_json"
    very_deep = b"[" * 30_000 + b"]" * 30_000
    assert code_of(parse_behavior, holding_1e400(very_deep)) == "invalid_json"
    # Without 1e400 orjson decides, with the same limit.
    plain = b()[:-1] + b',"more":'
    assert code_of(parse_behavior, plain + fits + b"}") is None
    assert code_of(parse_behavior, plain + deep + b"}") == "invalid_json"


def test_control_characters_and_nul_are_valid_in_strings() -> None:
    ev = parse_behavior(b(event_id="\x00", product_id="p\x00\x01\x1f\x7f", user_id="\n"))
    assert ev["product_id"] == "p\x00\x01\x1f\x7f"
    assert code_of(parse_behavior, b()[:-1] + b',"x":"\x01"}') == "invalid_json"  # unescaped


def test_ts_may_be_at_most_max_future_ahead_of_the_record_timestamp() -> None:
    record_ts = 1_764_147_600_000
    ahead = DEFAULT_LIMITS.max_future_ms
    assert parse_behavior(b(ts=record_ts + ahead), record_ts=record_ts)
    assert parse_inventory(i(ts=record_ts + ahead), record_ts=record_ts)
    for parse, raw in [(parse_behavior, b), (parse_inventory, i)]:
        with pytest.raises(OutOfRange, match="ahead"):
            parse(raw(ts=record_ts + ahead + 1), record_ts=record_ts)
    # Far in the past is fine; unset record timestamps (None, -1) check nothing.
    assert parse_behavior(b(ts=0), record_ts=record_ts)
    assert parse_behavior(b(ts=2**53 - 1), record_ts=None)
    assert parse_behavior(b(ts=2**53 - 1), record_ts=-1)
    tight = Limits(max_future_ms=0)
    assert parse_behavior(b(ts=5), record_ts=5, limits=tight)
    assert code_of(parse_behavior, b(ts=6), record_ts=5, limits=tight) == "out_of_range"


def test_a_value_longer_than_the_limit_is_too_large_whatever_it_holds() -> None:
    limit = DEFAULT_LIMITS.max_record_bytes
    pad = limit - len(b(extra=""))
    assert len(b(extra="x" * pad)) == limit
    assert parse_behavior(b(extra="x" * pad))
    for raw in [b(extra="x" * (pad + 1)), b"\xff" * (limit + 1), b"[" * (limit + 1)]:
        with pytest.raises(TooLarge):
            parse_behavior(raw)
        with pytest.raises(TooLarge):
            parse_inventory(raw)
    assert code_of(parse_behavior, b"[1]" + b" " * 10, limits=Limits(max_record_bytes=12)) == (
        "too_large"
    )


def test_rules_apply_in_the_documented_order() -> None:
    # Several faults at once: the first in the order of events.py's docstring decides.
    assert code_of(parse_behavior, b(event_id=None, ts="x", kind="refund")) == "missing_field"
    assert code_of(parse_behavior, b(product_id=1, ts=-1)) == "wrong_type"
    assert code_of(parse_behavior, b(ts=-1, kind=None)) == "out_of_range"
    assert code_of(parse_behavior, b(kind="refund", qty=0)) == "unknown_kind"
    assert code_of(parse_behavior, b(user_id=1, qty=0)) == "wrong_type"
    assert code_of(parse_behavior, b(qty=0, price="x")) == "out_of_range"
    assert code_of(parse_inventory, i(kind="move", warehouse=None)) == "unknown_kind"
    assert code_of(parse_inventory, i(warehouse="", qty="x")) == "out_of_range"


@pytest.mark.parametrize("name", ["event_id", "kind", "user_id", "price", "qty"])
def test_messages_never_carry_a_huge_value(name: str) -> None:
    huge = "v" * 60_000
    with pytest.raises(Rejected) as info:
        parse_behavior(b(**{name: huge if name != "user_id" else [huge]}))
    assert len(info.value.message.encode()) < 300
    with pytest.raises(Rejected) as info:
        parse_behavior(b(qty=[[[[huge]]]]))
    assert len(info.value.message.encode()) < 300


_json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=2**62, max_value=2**70)
    | st.floats(allow_nan=False)
    | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=12,
)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.sampled_from([*BEHAVIOR, *INVENTORY, "extra"]), _json_values))
def test_any_json_record_is_accepted_or_rejected_never_crashes(changes: dict[str, Any]) -> None:
    for parse, base in [(parse_behavior, BEHAVIOR), (parse_inventory, INVENTORY)]:
        raw = json.dumps({**base, **changes}).encode("utf-8", "surrogatepass")  # Infinity too
        try:
            ev = parse(raw)
        except Rejected as exc:
            assert exc.code and len(exc.message.encode("utf-8", "replace")) < 1024
        else:
            assert type(ev["ts"]) is int and type(ev["qty"]) is int


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200) | st.text(max_size=60).map(lambda s: s.encode("utf-8", "replace")))
def test_arbitrary_bytes_are_rejected_or_parsed_never_crash(raw: bytes) -> None:
    for parse in (parse_behavior, parse_inventory):
        try:
            parse(raw)
        except Rejected:
            pass
