"""Limits a product state keeps, and what the engine rebuilds a failed product from.

A rejected event must change nothing (the engine dead-letters it and goes on),
and every stored integer must fit the 64 bits orjson can write. Once a record
fails, the engine rebuilds its product from the stored form plus the records the
batch applied to it before, and applies its later records to a copy read back
from the stored form: both must come out as the product the events made, and
the copy must share nothing with the state it was read from.
"""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from hunt.domain.dedup import DedupIndex, DedupPolicy, MemoryStore
from hunt.domain.errors import TooManyWarehouses
from hunt.domain.processing import Outcome, apply_event
from hunt.domain.product import MAX_WAREHOUSES, ProductState, Rules
from hunt.domain.windows import RETAIN_MS, WINDOW_MS

RULES = Rules()
T0 = 1_764_147_600_000
INT64_MAX = 2**63 - 1
INT64_MIN = -(2**63)


def beh(kind: str, ts: int = T0, qty: int = 1, eid: str = "b") -> dict[str, Any]:
    return {"event_id": eid, "ts": ts, "product_id": "p", "kind": kind, "qty": qty, "price": 2.5}


def inv(kind: str, qty: int, wh: str = "w-1", eid: str = "i", ts: int = T0) -> dict[str, Any]:
    return {"event_id": eid, "ts": ts, "product_id": "p", "warehouse": wh, "kind": kind, "qty": qty}


def stored(**fields: Any) -> ProductState:
    """A state as it would be loaded, with some stored fields set directly."""
    d = orjson.loads(ProductState("p").to_bytes())
    d.update(fields)
    return ProductState.from_bytes(orjson.dumps(d))


def with_warehouses(n: int) -> ProductState:
    s = ProductState("p")
    for k in range(n):
        s.apply_inventory(inv("restock", 1, wh=f"w-{k}", eid=f"i{k}"), RULES)
    return s


def test_a_thousand_warehouses_are_kept_and_a_1001st_is_rejected_unchanged() -> None:
    s = with_warehouses(MAX_WAREHOUSES)
    before = s.to_bytes()
    with pytest.raises(TooManyWarehouses) as err:
        s.apply_inventory(inv("restock", 1, wh="one-more"), RULES)
    assert err.value.code == "too_many_warehouses" and "one-more" in err.value.message
    assert s.to_bytes() == before
    s.apply_inventory(inv("count", 0, wh="w-999"), RULES)  # a known one still moves
    assert s.available == MAX_WAREHOUSES - 1 and len(s.on_hand) == MAX_WAREHOUSES


def test_a_rejected_event_leaves_no_watermark_and_no_dedup_id() -> None:
    s = with_warehouses(MAX_WAREHOUSES)
    store = MemoryStore()
    dedup = DedupIndex(store, DedupPolicy())
    before = s.to_bytes()
    with pytest.raises(TooManyWarehouses):
        apply_event(s, "i", "i0", 7, inv("restock", 1, wh="x", eid="e"), RULES, dedup)
    assert s.to_bytes() == before and store.data == {}
    # The same id on a known warehouse is a new event, not a duplicate of the rejected one.
    outcome, _ = apply_event(s, "i", "i0", 8, inv("restock", 1, wh="w-0", eid="e"), RULES, dedup)
    assert outcome is Outcome.APPLIED and s.offsets == {"i0": 8}


@pytest.mark.parametrize(
    ("on_hand", "event"),
    [
        ({"w-1": INT64_MAX - 4}, inv("restock", 4)),  # to exactly the edge: allowed
        ({"w-1": INT64_MIN + 3}, inv("sale", 3)),
        ({"w-1": 2**62, "w-2": 2**62 - 2}, inv("adjust", 1, wh="w-3")),
    ],
)
def test_integers_may_reach_the_64_bit_edge(on_hand: dict[str, int], event: Any) -> None:
    s = stored(oh=on_hand, st="in_stock")
    s.apply_inventory(event, RULES)
    assert orjson.loads(s.to_bytes())["oh"] == s.on_hand  # orjson still writes it


@pytest.mark.parametrize(
    ("on_hand", "event"),
    [
        ({"w-1": INT64_MAX - 4}, inv("restock", 5)),  # one past the edge
        ({"w-1": INT64_MIN + 3}, inv("sale", 4)),
        ({"w-1": 2**62, "w-2": 2**62 - 1}, inv("adjust", 1, wh="w-3")),  # available
        ({"w-1": 2**62, "w-2": 2**62 - 1}, inv("count", 1, wh="w-3")),
        ({"w-1": INT64_MIN + 1, "w-2": -1}, inv("sale", 1, wh="w-3")),
    ],
)
def test_an_integer_past_64_bits_raises_before_anything_changes(
    on_hand: dict[str, int], event: Any
) -> None:
    s = stored(oh=on_hand, st="out")
    before = s.to_bytes()
    with pytest.raises(OverflowError):
        s.apply_inventory(event, RULES)
    assert s.to_bytes() == before and s.available == sum(on_hand.values())


def test_total_units_past_64_bits_raise_before_anything_changes() -> None:
    s = stored(t=[0, 0, 0, 1, INT64_MAX - 10])
    s.apply_behavior(beh("purchase", qty=10, eid="a"), RULES)
    assert s.snapshot()["totals"]["units"] == INT64_MAX
    before = s.to_bytes()
    with pytest.raises(OverflowError):
        s.apply_behavior(beh("purchase", qty=1, eid="b"), RULES)
    assert s.to_bytes() == before


def hour_of_windows() -> ProductState:
    """A product with 61 windows, stock in 3 warehouses, dedup buckets and a spike."""
    s = ProductState("p")
    for k in range(3):
        s.apply_inventory(inv("restock", 500, wh=f"w-{k}", eid=f"i{k}"), RULES)
    for m in range(61):
        for kind in ("view", "cart_add", "purchase"):
            s.apply_behavior(beh(kind, ts=T0 + m * WINDOW_MS, eid=f"{kind}{m}"), RULES)
    for k in range(25):
        s.apply_behavior(beh("cart_add", ts=T0 + 60 * WINDOW_MS, eid=f"burst{k}"), RULES)
    assert s.windows.spiked and len(s.windows) == 61
    s.offsets.update({"b0": 10, "i3": 4})
    s.dedup_buckets.update({"b": [5, 6], "i": [6]})
    return s


def events_that_touch_everything() -> list[tuple[str, dict[str, Any]]]:
    newest = T0 + 60 * WINDOW_MS
    return [
        ("b", beh("purchase", ts=newest, qty=3, eid="x1")),  # the newest window
        ("b", beh("cart_add", ts=newest - 7 * WINDOW_MS, eid="x2")),  # a late one
        ("b", beh("view", ts=newest + WINDOW_MS, eid="x3")),  # a new window, one expires
        ("i", inv("sale", 1400, wh="w-1", eid="x4")),  # a known warehouse; low stock
        ("i", inv("restock", 9, wh="w-new", eid="x5")),  # a new warehouse
        ("b", beh("view", ts=newest + 10 * RETAIN_MS, eid="x6")),  # every window expires
    ]


def detached(s: ProductState) -> ProductState:
    return ProductState.from_bytes(s.to_bytes())


def test_events_applied_to_a_copy_read_back_leave_the_original_as_it_was() -> None:
    s = hour_of_windows()
    before = s.to_bytes()
    snapshot = orjson.dumps(s.snapshot())
    sums = (s.windows.recent.copy(), s.windows.previous, s.windows.spiked.copy())
    rows = s.window_rows(60)
    c = detached(s)
    dedup = DedupIndex(MemoryStore(), DedupPolicy())
    for offset, (code, ev) in enumerate(events_that_touch_everything(), start=100):
        apply_event(c, code, f"{code}0", offset, ev, RULES, dedup)
    assert c.to_bytes() != before
    assert s.to_bytes() == before and orjson.dumps(s.snapshot()) == snapshot
    assert (s.windows.recent, s.windows.previous, s.windows.spiked) == sums
    assert s.window_rows(60) == rows


def test_events_applied_to_the_original_leave_a_copy_read_back_as_it_was() -> None:
    s = hour_of_windows()
    c = detached(s)
    before = c.to_bytes()
    dedup = DedupIndex(MemoryStore(), DedupPolicy())
    for offset, (code, ev) in enumerate(events_that_touch_everything(), start=100):
        apply_event(s, code, f"{code}0", offset, ev, RULES, dedup)
    assert c.to_bytes() == before


def test_a_copy_read_back_applies_events_exactly_as_the_original_would() -> None:
    a, b = hour_of_windows(), detached(hour_of_windows())
    for offset, (code, ev) in enumerate(events_that_touch_everything(), start=100):
        da = DedupIndex(MemoryStore(), DedupPolicy())
        db = DedupIndex(MemoryStore(), DedupPolicy())
        assert apply_event(a, code, "s", offset, ev, RULES, da) == apply_event(
            b, code, "s", offset, ev, RULES, db
        )
        assert a.to_bytes() == b.to_bytes()


def test_the_stored_form_plus_the_batch_so_far_rebuilds_the_product() -> None:
    """Replayed with the dedup index that remembered them, the batch's events are
    applied again (their ids sit above the stored watermark) and its duplicates
    and replays are skipped again: the rebuilt product equals the one they made."""
    s = hour_of_windows()
    raw = s.to_bytes()
    newest = T0 + 60 * WINDOW_MS
    events = events_that_touch_everything()
    events.insert(1, ("b", beh("purchase", ts=newest, qty=3, eid="x1")))  # a duplicate
    batch = [("b0", 5, "b", beh("view", ts=newest, eid="old"))]  # below the watermark: a replay
    batch += [(f"{code}0", n, code, ev) for n, (code, ev) in enumerate(events, start=100)]
    store = MemoryStore()
    dedup = DedupIndex(store, DedupPolicy())
    outcomes = [apply_event(s, code, src, off, ev, RULES, dedup) for src, off, code, ev in batch]
    assert [o for o, _ in outcomes].count(Outcome.REPLAYED) == 1
    assert [o for o, _ in outcomes].count(Outcome.DUPLICATE) == 1
    ids = dict(store.data)
    rebuilt = ProductState.from_bytes(raw)
    again = [apply_event(rebuilt, code, src, off, ev, RULES, dedup) for src, off, code, ev in batch]
    assert again == outcomes
    assert rebuilt.to_bytes() == s.to_bytes() and store.data == ids
