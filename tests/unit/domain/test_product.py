"""Product state rules of SPEC sections 2 and 3."""

from __future__ import annotations

from typing import Any

from hunt.domain.product import ProductState, Rules
from hunt.domain.windows import RETAIN_MS, WINDOW_MS

RULES = Rules()
T0 = 1_764_147_600_000  # a window boundary


def beh(
    kind: str, ts: int = T0, qty: int = 1, price: float = 10.0, eid: str = "b"
) -> dict[str, Any]:
    return {"event_id": eid, "ts": ts, "product_id": "p", "kind": kind, "qty": qty, "price": price}


def inv(kind: str, qty: int, wh: str = "w-1", ts: int = T0, eid: str = "i") -> dict[str, Any]:
    return {"event_id": eid, "ts": ts, "product_id": "p", "warehouse": wh, "kind": kind, "qty": qty}


def kinds(alerts: list[dict[str, Any]]) -> list[str]:
    return [a["kind"] for a in alerts]


def test_unknown_until_first_inventory_event_then_in_stock_or_out() -> None:
    s = ProductState("p")
    s.apply_behavior(beh("view"), RULES)
    assert s.snapshot()["stock_state"] == "unknown"
    assert kinds(s.apply_inventory(inv("restock", 5), RULES)) == []
    assert s.stock_state == "in_stock" and s.available == 5


def test_unknown_to_out_fires_stockout() -> None:
    s = ProductState("p")
    alerts = s.apply_inventory(inv("count", 0, eid="i-9"), RULES)
    assert kinds(alerts) == ["stockout"]
    assert alerts[0]["alert_id"] == "p:stockout:i-9" and alerts[0]["window_start"] is None


def test_negative_availability_is_reported_as_is_and_back_in_stock_fires() -> None:
    s = ProductState("p")
    s.apply_inventory(inv("restock", 2), RULES)
    assert kinds(s.apply_inventory(inv("sale", 5, wh="w-2"), RULES)) == ["stockout"]
    assert s.snapshot()["available"] == -3 and s.on_hand == {"w-1": 2, "w-2": -5}
    assert kinds(s.apply_inventory(inv("adjust", 4, wh="w-2", eid="i-3"), RULES)) == [
        "back_in_stock"
    ]


def test_count_resets_one_warehouse_and_keeps_zeros() -> None:
    s = ProductState("p")
    s.apply_inventory(inv("restock", 7), RULES)
    s.apply_inventory(inv("restock", 3, wh="w-2"), RULES)
    s.apply_inventory(inv("count", 0, wh="w-2"), RULES)
    assert s.on_hand == {"w-1": 7, "w-2": 0} and s.available == 7


def test_revenue_is_exact_then_rounded_once_half_up() -> None:
    s = ProductState("p")
    for n in range(3):
        s.apply_behavior(beh("purchase", qty=1, price=0.005, eid=f"b{n}"), RULES)
    # 0.015 exactly, rounded once: 0.02 (three roundings of 0.005 would give 0.03).
    assert s.snapshot()["totals"]["revenue"] == 0.02
    s2 = ProductState("p")
    s2.apply_behavior(beh("purchase", qty=3, price=19.99), RULES)
    assert s2.snapshot()["totals"] == {
        "views": 0,
        "cart_adds": 0,
        "cart_removes": 0,
        "purchases": 1,
        "units": 3,
        "revenue": 59.97,
    }


def test_counters_count_events_and_units_sum_qty() -> None:
    s = ProductState("p")
    s.apply_behavior(beh("view", qty=5), RULES)
    s.apply_behavior(beh("cart_add", qty=2), RULES)
    s.apply_behavior(beh("cart_remove"), RULES)
    s.apply_behavior(beh("purchase", qty=4), RULES)
    t = s.snapshot()["totals"]
    assert (t["views"], t["cart_adds"], t["cart_removes"], t["purchases"], t["units"]) == (
        1,
        1,
        1,
        1,
        4,
    )
    assert s.events_applied == 4


def test_windows_kept_for_sixty_minutes_and_late_events_count_in_totals_only() -> None:
    s = ProductState("p")
    s.apply_behavior(beh("view", ts=T0), RULES)
    newest = T0 + RETAIN_MS
    s.apply_behavior(beh("view", ts=newest + 5), RULES)
    assert sorted(s.windows) == [T0, newest]  # exactly 60 minutes before: still kept
    s.apply_behavior(beh("view", ts=newest + WINDOW_MS), RULES)
    assert T0 not in s.windows  # now 61 minutes old: expired
    s.apply_behavior(beh("view", ts=T0 + 1), RULES)  # too late for any kept window
    assert T0 not in s.windows and s.totals[0] == 4
    s.apply_behavior(beh("view", ts=T0 + 30 * WINDOW_MS), RULES)  # late but kept
    assert s.window_counter(T0 + 30 * WINDOW_MS, 0) == 1  # views
    assert [r["window_start"] for r in s.window_rows(60)][-1] == newest + WINDOW_MS


def test_demand_per_min_and_minutes_to_stockout() -> None:
    s = ProductState("p")
    assert s.snapshot()["minutes_to_stockout"] is None
    s.apply_inventory(inv("restock", 30), RULES)
    s.apply_behavior(beh("purchase", ts=T0, qty=6), RULES)
    s.apply_behavior(beh("purchase", ts=T0 + 14 * WINDOW_MS, qty=9), RULES)
    snap = s.snapshot()
    assert snap["demand_per_min"] == 15 / 15
    assert snap["minutes_to_stockout"] == 30 / 1.0
    s.apply_behavior(beh("view", ts=T0 + 15 * WINDOW_MS), RULES)  # first window leaves the 15
    assert s.demand_per_min == 9 / 15


def test_low_stock_fires_once_then_rearms() -> None:
    s = ProductState("p")
    s.apply_inventory(inv("restock", 10), RULES)
    fired = kinds(s.apply_behavior(beh("purchase", qty=15, eid="b1"), RULES))  # 1/min: 10 min left
    assert fired == ["low_stock"]
    assert kinds(s.apply_behavior(beh("view", eid="b2"), RULES)) == []  # still low: no repeat
    s.apply_inventory(inv("restock", 1000, eid="i2"), RULES)  # 1010 min: re-armed
    assert kinds(s.apply_inventory(inv("sale", 1000, eid="i3"), RULES)) == ["low_stock"]


def test_demand_spike_threshold_and_once_per_window() -> None:
    s = ProductState("p")
    for n in range(15):  # 15 previous windows of 2 cart_adds each: mean 2, 3x = 6, floor 20
        for k in range(2):
            s.apply_behavior(beh("cart_add", ts=T0 + n * WINDOW_MS, eid=f"a{n}{k}"), RULES)
    w = T0 + 15 * WINDOW_MS
    alerts: list[dict[str, Any]] = []
    for k in range(19):
        alerts += s.apply_behavior(beh("cart_add", ts=w, eid=f"c{k}"), RULES)
    assert alerts == []
    alerts = s.apply_behavior(beh("purchase", ts=w + 1, qty=1, eid="x"), RULES)  # 19 + 1 unit = 20
    assert kinds(alerts) == ["demand_spike"] and alerts[0]["window_start"] == w
    assert s.apply_behavior(beh("cart_add", ts=w + 2, eid="y"), RULES) == []


def test_spike_needs_three_times_the_previous_mean() -> None:
    s = ProductState("p")
    for n in range(15):
        for k in range(10):  # mean 10 -> threshold 30
            s.apply_behavior(beh("cart_add", ts=T0 + n * WINDOW_MS, eid=f"a{n}-{k}"), RULES)
    w = T0 + 15 * WINDOW_MS
    fired = [s.apply_behavior(beh("cart_add", ts=w, eid=f"c{k}"), RULES) for k in range(30)]
    assert [i for i, a in enumerate(fired) if a] == [29]


def test_state_round_trips_through_bytes() -> None:
    s = ProductState("p")
    s.apply_inventory(inv("restock", 3), RULES)
    s.apply_behavior(beh("purchase", qty=2, price=1.1), RULES)
    s.offsets["b3"] = 17
    s.dedup_buckets["b"] = [5]
    back = ProductState.from_bytes(s.to_bytes())
    assert back.snapshot() == s.snapshot()
    assert back.offsets == {"b3": 17} and back.dedup_buckets == {"b": [5]}
    assert back.window_rows(60) == s.window_rows(60)
