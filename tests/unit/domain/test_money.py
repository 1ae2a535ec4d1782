"""Exact money at every price and quantity the contract allows (SPEC sections 1 and 2)."""

from __future__ import annotations

import math
from decimal import Decimal, Inexact

import orjson
import pytest

from hunt.domain.money import ZERO, add, cents, line_amount, subtract
from hunt.domain.product import ProductState, Rules
from hunt.domain.windows import REVENUE

T0 = 1_764_147_600_000
INT64_MAX = 2**63 - 1


def purchase(price: float, qty: int = 1, eid: str = "b", ts: int = T0) -> dict[str, object]:
    return {
        "event_id": eid,
        "ts": ts,
        "product_id": "p",
        "kind": "purchase",
        "qty": qty,
        "price": price,
    }


@pytest.mark.parametrize(
    ("qty", "price", "exact"),
    [
        (1, 19.99, "19.99"),
        (3, 1.005, "3.015"),  # 3.0149999... as floats
        (1_000_000, 123456789.12345678, "123456789123456.78"),
        (1_000_000, 1e9, "1000000000000000"),
        (1, 5e-324, "5E-324"),
        (1_000_000, 5e-324, "5.000000E-318"),
        (7, 3, "21"),  # a JSON integer price
        (1, 0, "0"),
    ],
)
def test_line_amount_is_the_exact_product_of_the_decimal_sent(
    qty: int, price: float, exact: str
) -> None:
    assert line_amount(qty, price) == Decimal(exact)


def test_sums_keep_every_digit_an_allowed_total_can_have() -> None:
    tiny = line_amount(1, 5e-324)
    most = Decimal(INT64_MAX * 10**9)  # int64 units at the highest price
    total = add(add(most, tiny), Decimal("0.005"))
    assert len(total.as_tuple().digits) == 28 + 324
    assert subtract(subtract(total, tiny), most) == Decimal("0.005")
    assert cents(total) == float(INT64_MAX * 10**9)


def test_a_sum_beyond_the_exact_range_raises_instead_of_rounding() -> None:
    with pytest.raises(Inexact):
        add(Decimal("1e-500"), Decimal(1))


@pytest.mark.parametrize(
    ("amount", "rounded"),
    [("0.005", 0.01), ("0.004999", 0.0), ("2.675", 2.68), ("0", 0.0), ("1e26", 1e26)],
)
def test_cents_round_once_half_up_and_stay_finite(amount: str, rounded: float) -> None:
    assert cents(Decimal(amount)) == rounded
    assert math.isfinite(cents(Decimal(amount)))


def test_a_tiny_price_beside_a_normal_one_is_kept_exactly_through_storage() -> None:
    s = ProductState("p")
    s.apply_behavior(purchase(19.99, eid="a"), Rules())
    s.apply_behavior(purchase(5e-324, qty=1_000_000, eid="b"), Rules())
    assert s.snapshot()["totals"]["revenue"] == 19.99
    back = ProductState.from_bytes(s.to_bytes())
    assert back.totals[REVENUE] == add(Decimal("19.99"), Decimal("5e-318"))
    assert subtract(back.totals[REVENUE], Decimal("19.99")) > ZERO


def test_the_largest_allowed_purchases_give_finite_json_numbers() -> None:
    s = ProductState("p")
    for n in range(3):
        s.apply_behavior(purchase(1e9, qty=1_000_000, eid=f"b{n}"), Rules())
    s.apply_behavior(purchase(123456789.12345678, qty=1_000_000, eid="c"), Rules())
    snap = orjson.loads(orjson.dumps(s.snapshot()))
    assert snap["totals"]["revenue"] == float(Decimal("3123456789123456.78"))
    assert snap["recent"]["revenue"] == snap["totals"]["revenue"]


def test_a_price_far_beyond_the_contract_does_not_crash_the_rounding() -> None:
    s = ProductState("p")
    s.apply_behavior(purchase(1e26, qty=1_000_000), Rules())  # 29 integer digits
    assert s.snapshot()["totals"]["revenue"] == 1e32
