"""Product state rules of SPEC sections 2 and 3."""

from __future__ import annotations

from typing import Any

import orjson

from hunt.domain.product import ProductState, Rules
from hunt.domain.windows import RETAIN_MS, WINDOW_MS

RULES = Rules()
T0 = 1_764_147_600_000  # a window boundary
ALERT_FIELDS = [
    "alert_id",
    "kind",
    "product_id",
    "ts",
    "cause_event_id",
    "available",
    "demand_per_min",
    "minutes_to_stockout",
    "window_start",
    "value",
    "baseline",
    "threshold",
]


def beh(
    kind: str, ts: int = T0, qty: int = 1, price: float = 10.0, eid: str = "b"
) -> dict[str, Any]:
    return {"event_id": eid, "ts": ts, "product_id": "p", "kind": kind, "qty": qty, "price": price}


def inv(kind: str, qty: int, wh: str = "w-1", ts: int = T0, eid: str = "i") -> dict[str, Any]:
    return {"event_id": eid, "ts": ts, "product_id": "p", "warehouse": wh, "kind": kind, "qty": qty}


def kinds(alerts: list[dict[str, Any]]) -> list[str]:
    return [a["kind"] for a in alerts]


def seen_for_15_minutes() -> ProductState:
    """A product whose first behaviour window is 14 before T0's: demand divides by 15."""
    s = ProductState("p")
    s.apply_behavior(beh("view", ts=T0 - 14 * WINDOW_MS, eid="first"), RULES)
    return s


def test_unknown_until_first_inventory_event_then_in_stock_or_out() -> None:
    s = ProductState("p")
    s.apply_behavior(beh("view"), RULES)
    assert s.snapshot()["stock_state"] == "unknown"
    assert kinds(s.apply_inventory(inv("restock", 5), RULES)) == []
    assert s.stock_state == "in_stock" and s.available == 5


def test_unknown_to_out_fires_stockout_with_every_alert_field() -> None:
    s = ProductState("p")
    alerts = s.apply_inventory(inv("count", 0, eid="i-9"), RULES)
    assert alerts == [
        {
            "alert_id": "p:stockout:i-9",
            "kind": "stockout",
            "product_id": "p",
            "ts": T0,
            "cause_event_id": "i-9",
            "available": 0,
            "demand_per_min": 0.0,
            "minutes_to_stockout": None,
            "window_start": None,
            "value": None,
            "baseline": None,
            "threshold": None,
        }
    ]
    assert list(alerts[0]) == ALERT_FIELDS


def test_negative_availability_is_reported_as_is_and_back_in_stock_fires() -> None:
    s = ProductState("p")
    s.apply_inventory(inv("restock", 2), RULES)
    assert kinds(s.apply_inventory(inv("sale", 5, wh="w-2"), RULES)) == ["stockout"]
    assert s.snapshot()["available"] == -3 and s.on_hand == {"w-1": 2, "w-2": -5}
    back = s.apply_inventory(inv("adjust", 4, wh="w-2", eid="i-3"), RULES)
    assert kinds(back) == ["back_in_stock"]
    assert list(back[0]) == ALERT_FIELDS and back[0]["value"] is None


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
    assert s.snapshot()["recent"]["revenue"] == 0.02
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
    assert s.take_expired_windows() == 1 and s.take_expired_windows() == 0
    s.apply_behavior(beh("view", ts=T0 + 1), RULES)  # too late for any kept window
    assert T0 not in s.windows and s.snapshot()["totals"]["views"] == 4
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


def test_demand_divides_by_the_minutes_a_young_product_was_seen() -> None:
    s = ProductState("p")
    s.apply_behavior(beh("purchase", ts=T0, qty=6), RULES)
    assert s.demand_per_min == 6 / 1
    s.apply_behavior(beh("view", ts=T0 + 2 * WINDOW_MS + 59_999), RULES)
    assert s.demand_per_min == 6 / 3 and s.snapshot()["recent"]["minutes"] == 3
    # A late event 5 windows before the first moves the first window back.
    s.apply_behavior(beh("view", ts=T0 - 5 * WINDOW_MS), RULES)
    assert s.demand_per_min == 6 / 8
    # One older than every kept window still counts as seen: the divisor is 15.
    s.apply_behavior(beh("view", ts=T0 + RETAIN_MS + 3 * WINDOW_MS), RULES)
    s.apply_behavior(beh("view", ts=T0 - 2 * RETAIN_MS), RULES)
    assert s.snapshot()["recent"]["minutes"] == 15 and s.demand_per_min == 0.0


def test_recent_is_null_until_the_first_behaviour_event() -> None:
    s = ProductState("p")
    s.apply_inventory(inv("restock", 5), RULES)
    snap = s.snapshot()
    assert snap["recent"] is None and snap["demand_per_min"] == 0
    s.apply_behavior(beh("cart_remove"), RULES)
    assert s.snapshot()["recent"] == {
        "minutes": 1,
        "views": 0,
        "cart_adds": 0,
        "cart_removes": 1,
        "purchases": 0,
        "units": 0,
        "revenue": 0.0,
        "view_to_cart": None,
        "cart_to_purchase": None,
    }


def test_recent_sums_the_fifteen_newest_windows_and_the_funnel() -> None:
    s = ProductState("p")
    s.apply_behavior(beh("view", ts=T0 - 15 * WINDOW_MS, eid="old"), RULES)  # outside the 15
    for k in range(8):
        s.apply_behavior(beh("view", ts=T0 - k * WINDOW_MS, eid=f"v{k}"), RULES)
    for k in range(2):
        s.apply_behavior(beh("cart_add", ts=T0 - 14 * WINDOW_MS, eid=f"c{k}"), RULES)
    s.apply_behavior(beh("purchase", ts=T0, qty=3, price=1.005, eid="p"), RULES)
    recent = s.snapshot()["recent"]
    assert recent == {
        "minutes": 15,
        "views": 8,
        "cart_adds": 2,
        "cart_removes": 0,
        "purchases": 1,
        "units": 3,
        "revenue": 3.02,  # 3 x 1.005 = 3.015 exactly, half-up
        "view_to_cart": 2 / 8,
        "cart_to_purchase": 1 / 2,
    }
    assert list(s.snapshot()) == [
        "product_id",
        "available",
        "on_hand",
        "stock_state",
        "totals",
        "recent",
        "demand_per_min",
        "minutes_to_stockout",
        "events_applied",
        "last_event_ts",
    ]


def test_low_stock_fires_once_then_rearms_at_a_quarter_above_the_threshold() -> None:
    s = seen_for_15_minutes()
    s.apply_inventory(inv("restock", 10), RULES)
    fired = s.apply_behavior(beh("purchase", qty=15, eid="b1"), RULES)  # 1/min: 10 min left
    assert kinds(fired) == ["low_stock"]
    assert (fired[0]["value"], fired[0]["baseline"], fired[0]["threshold"]) == (10.0, None, 60.0)
    assert fired[0]["minutes_to_stockout"] == 10.0 and fired[0]["window_start"] is None
    assert kinds(s.apply_behavior(beh("view", eid="b2"), RULES)) == []  # still low: no repeat
    s.apply_inventory(inv("restock", 64, eid="i2"), RULES)  # 74 min: not yet re-armed
    assert kinds(s.apply_inventory(inv("sale", 64, eid="i3"), RULES)) == []
    s.apply_inventory(inv("restock", 65, eid="i4"), RULES)  # 75 min = 1.25 x 60: re-armed
    assert kinds(s.apply_inventory(inv("sale", 16, eid="i5"), RULES)) == ["low_stock"]  # 59
    s.apply_inventory(inv("count", 0, eid="i6"), RULES)  # out: re-armed
    assert kinds(s.apply_inventory(inv("count", 5, eid="i7"), RULES)) == [
        "back_in_stock",
        "low_stock",
    ]


def test_low_stock_rearms_when_minutes_to_stockout_becomes_null() -> None:
    s = seen_for_15_minutes()
    s.apply_inventory(inv("restock", 10), RULES)
    assert kinds(s.apply_behavior(beh("purchase", qty=15, eid="b1"), RULES)) == ["low_stock"]
    s.apply_behavior(beh("view", ts=T0 + 15 * WINDOW_MS, eid="b2"), RULES)  # demand 0: null
    assert s.minutes_to_stockout() is None
    assert kinds(s.apply_behavior(beh("purchase", qty=15, eid="b3"), RULES)) == []  # late
    w = T0 + 16 * WINDOW_MS
    assert kinds(s.apply_behavior(beh("purchase", ts=w, qty=15, eid="b4"), RULES)) == ["low_stock"]


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
    assert kinds(alerts) == ["demand_spike"]
    spike = alerts[0]
    assert list(spike) == ALERT_FIELDS
    assert (spike["window_start"], spike["value"], spike["baseline"], spike["threshold"]) == (
        w,
        20,
        2.0,
        20.0,
    )
    assert spike["alert_id"] == "p:demand_spike:x" and spike["ts"] == w + 1
    assert s.apply_behavior(beh("cart_add", ts=w + 2, eid="y"), RULES) == []


def test_spike_needs_three_times_the_previous_mean() -> None:
    s = ProductState("p")
    for n in range(15):
        for k in range(10):  # mean 10 -> threshold 30
            s.apply_behavior(beh("cart_add", ts=T0 + n * WINDOW_MS, eid=f"a{n}-{k}"), RULES)
    w = T0 + 15 * WINDOW_MS
    fired = [s.apply_behavior(beh("cart_add", ts=w, eid=f"c{k}"), RULES) for k in range(30)]
    assert [i for i, a in enumerate(fired) if a] == [29]
    assert (fired[29][0]["baseline"], fired[29][0]["threshold"]) == (10.0, 30.0)


def test_spike_threshold_is_exact_for_a_fractional_factor() -> None:
    rules = Rules(spike_floor=1, spike_factor=0.1)  # 0.1 is 0.1000000000000000055... as a float
    s = ProductState("p")
    for n in range(15):
        for k in range(10):
            s.apply_behavior(beh("cart_add", ts=T0 + n * WINDOW_MS, eid=f"a{n}-{k}"), rules)
    # mean 10, 0.1 x 10 = 1.0000000000000000555: a single cart_add (1) is below it.
    w = T0 + 15 * WINDOW_MS
    assert s.apply_behavior(beh("cart_add", ts=w, eid="c0"), rules) == []
    spike = s.apply_behavior(beh("cart_add", ts=w, eid="c1"), rules)[0]
    assert spike["threshold"] == 0.1 * 10 and spike["value"] == 2


def test_no_spike_without_fifteen_windows_of_history() -> None:
    s = ProductState("p")
    s.apply_behavior(beh("view", ts=T0 - 14 * WINDOW_MS, eid="first"), RULES)
    burst = [s.apply_behavior(beh("cart_add", eid=f"c{k}"), RULES) for k in range(30)]
    assert not any(burst)  # T0 starts 14 windows after the first: too young
    # A late event one window earlier makes T0 the 15th window: the next cart_add spikes.
    assert s.apply_behavior(beh("view", ts=T0 - 15 * WINDOW_MS, eid="late"), RULES) == []
    assert s.apply_behavior(beh("view", eid="v"), RULES) == []  # a view adds no demand
    assert kinds(s.apply_behavior(beh("cart_add", eid="c30"), RULES)) == ["demand_spike"]


def test_a_late_event_can_spike_its_own_older_window() -> None:
    s = ProductState("p")
    s.apply_behavior(beh("view", ts=T0 - 20 * WINDOW_MS, eid="first"), RULES)
    s.apply_behavior(beh("view", ts=T0 + 3 * WINDOW_MS, eid="newest"), RULES)
    for k in range(6):  # 6 cart_adds in T0 - 10 windows: in the mean of T0 (0.4) and T0 + 3
        s.apply_behavior(beh("cart_add", ts=T0 - 10 * WINDOW_MS, eid=f"h{k}"), RULES)
    alerts = [s.apply_behavior(beh("cart_add", ts=T0 + 7, eid=f"c{k}"), RULES) for k in range(20)]
    assert [i for i, a in enumerate(alerts) if a] == [19]
    spike = alerts[19][0]
    assert (spike["window_start"], spike["baseline"]) == (T0, 6 / 15)


def test_state_round_trips_through_bytes() -> None:
    s = ProductState("p")
    s.apply_inventory(inv("restock", 3), RULES)
    s.apply_behavior(beh("purchase", ts=T0 - 3 * WINDOW_MS, qty=2, price=1.1), RULES)
    s.apply_behavior(beh("cart_add", ts=T0), RULES)
    s.offsets["b3"] = 17
    s.dedup_buckets["b"] = [5]
    back = ProductState.from_bytes(s.to_bytes())
    assert back.snapshot() == s.snapshot()
    assert back.to_bytes() == s.to_bytes()
    assert back.offsets == {"b3": 17} and back.dedup_buckets == {"b": [5]}
    assert back.window_rows(60) == s.window_rows(60)
    assert (back.windows.previous, back.windows.recent) == (s.windows.previous, s.windows.recent)


def test_a_state_stored_before_the_first_window_and_sums_were_kept_still_loads() -> None:
    s = ProductState("p")
    s.apply_behavior(beh("purchase", ts=T0 - 3 * WINDOW_MS, qty=2), RULES)
    s.apply_behavior(beh("view", ts=T0), RULES)
    stored = orjson.loads(s.to_bytes())
    for key in ("fw", "rs", "ps"):  # the first window and the window sums
        del stored[key]
    back = ProductState.from_bytes(orjson.dumps(stored))
    assert back.snapshot() == s.snapshot()  # the oldest kept window stands in for the first
    assert back.demand_per_min == 2 / 4
    assert (back.windows.recent, back.windows.previous) == (s.windows.recent, s.windows.previous)
