"""Validation rules of SPEC section 1, one rule per case."""

from __future__ import annotations

import orjson
import pytest

from hunt.domain.errors import (
    MissingField,
    NotAnObject,
    NotJson,
    OutOfRange,
    Rejected,
    UnknownKind,
    WrongType,
)
from hunt.domain.events import parse_behavior, parse_inventory

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


def b(**changes: object) -> bytes:
    return orjson.dumps({**BEHAVIOR, **changes})


def i(**changes: object) -> bytes:
    return orjson.dumps({**INVENTORY, **changes})


def test_valid_records_parse_with_defaults_and_nulls_dropped() -> None:
    ev = parse_behavior(
        orjson.dumps(
            {
                "event_id": "b",
                "ts": 0,
                "product_id": "p",
                "kind": "view",
                "user_id": None,
                "extra": [1],
            }
        )
    )
    assert ev["qty"] == 1 and "user_id" not in ev
    assert parse_inventory(i())["qty"] == 4


@pytest.mark.parametrize(
    ("raw", "error"),
    [
        (b"{not json", NotJson),
        (b"\xff\xfe", NotJson),
        (None, NotJson),
        (b"[1, 2]", NotAnObject),
        (b'"text"', NotAnObject),
        (b(product_id=None), MissingField),
        (orjson.dumps({k: v for k, v in BEHAVIOR.items() if k != "event_id"}), MissingField),
        (b(kind="purchase", price=None), MissingField),
        (b(qty=1.0), WrongType),
        (b(qty="1"), WrongType),
        (b(qty=True), WrongType),
        (b(ts="1"), WrongType),
        (b(price="1.00"), WrongType),
        (b(price=True), WrongType),
        (b(user_id=5), WrongType),
        (b(product_id=7), WrongType),
        (b(qty=0), OutOfRange),
        (b(ts=-1), OutOfRange),
        (b(price=-0.01), OutOfRange),
        (b(event_id=""), OutOfRange),
        (b(event_id="x" * 129), OutOfRange),
        (b(kind="refund"), UnknownKind),
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


@pytest.mark.parametrize(
    ("raw", "error"),
    [
        (i(warehouse=None), MissingField),
        (i(warehouse=""), OutOfRange),
        (i(warehouse=3), WrongType),
        (i(qty=None), MissingField),
        (i(kind="restock", qty=0), OutOfRange),
        (i(kind="sale", qty=-1), OutOfRange),
        (i(kind="adjust", qty=0), OutOfRange),
        (i(kind="count", qty=-1), OutOfRange),
        (i(kind="move"), UnknownKind),
        (i(qty=2.0), WrongType),
    ],
)
def test_bad_inventory_records_are_rejected(raw: bytes, error: type[Rejected]) -> None:
    with pytest.raises(error):
        parse_inventory(raw)


@pytest.mark.parametrize(("kind", "qty"), [("adjust", -3), ("adjust", 3), ("count", 0)])
def test_inventory_quantities_allowed_by_kind(kind: str, qty: int) -> None:
    assert parse_inventory(i(kind=kind, qty=qty))["qty"] == qty
