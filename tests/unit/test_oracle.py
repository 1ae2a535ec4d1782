"""Pins the reference model on cases computed by hand from SPEC sections 1-3.

If one of these fails, the oracle (not the engine) misreads the contract, and
every engine test built on it would check the wrong thing.
"""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from tests.oracle import Oracle, OracleResult, TopicKind, run

T0 = 1_764_147_600_000  # a window boundary: T0 % 60_000 == 0
MIN = 60_000


def beh(
    eid: str, kind: str, ts: int = T0, pid: str = "p-1", **extra: Any
) -> tuple[TopicKind, bytes]:
    body = {"event_id": eid, "ts": ts, "product_id": pid, "kind": kind, **extra}
    return ("behavior", orjson.dumps(body))


def inv(
    eid: str, kind: str, qty: Any, ts: int = T0, pid: str = "p-1", wh: str = "w-1"
) -> tuple[TopicKind, bytes]:
    body = {"event_id": eid, "ts": ts, "product_id": pid, "warehouse": wh, "kind": kind, "qty": qty}
    return ("inventory", orjson.dumps(body))


def ids(result: OracleResult, kind: str) -> set[str]:
    return result.alerts[kind]


def test_revenue_is_exact_then_rounded_once_half_up() -> None:
    # 3 x 1.005 is 3.0149999... in floats but exactly 3.015 -> 3.02; 0.005 -> 0.01 (not 0.00).
    r = run([beh("a", "purchase", qty=3, price=1.005)])
    assert r.products["p-1"]["totals"]["revenue"] == 3.02
    r = run([beh("b", "purchase", price=0.005)])
    assert r.products["p-1"]["totals"]["revenue"] == 0.01
    # Rounded once over the sum, not per event: 3 x 0.005 = 0.015 -> 0.02 (not 3 x 0.01).
    r = run([beh(str(i), "purchase", price=0.005) for i in range(3)])
    assert r.products["p-1"]["totals"]["revenue"] == 0.02
    r = run(
        [beh(str(i), "purchase", price=0.1) for i in range(3)] + [beh("x", "purchase", price=7)]
    )
    assert r.products["p-1"]["totals"] == {
        "views": 0,
        "cart_adds": 0,
        "cart_removes": 0,
        "purchases": 4,
        "units": 4,
        "revenue": 7.3,
    }


def test_count_sets_one_warehouse_and_keeps_the_others() -> None:
    r = run([inv("1", "restock", 10), inv("2", "restock", 5, wh="w-2"), inv("3", "count", 3)])
    state = r.products["p-1"]
    assert state["on_hand"] == {"w-1": 3, "w-2": 5}
    assert state["available"] == 8
    r = run([inv("1", "restock", 4), inv("2", "count", 0), inv("3", "count", 0, wh="w-9")])
    assert r.products["p-1"]["on_hand"] == {"w-1": 0, "w-9": 0}
    assert r.products["p-1"]["stock_state"] == "out"


def test_oversold_goes_negative_and_needs_positive_stock_to_come_back() -> None:
    o = Oracle()
    for rec in [inv("1", "restock", 2), inv("2", "sale", 5), inv("3", "restock", 1)]:
        o.feed(*rec)
    r = o.result()
    assert r.products["p-1"]["available"] == -2
    assert r.products["p-1"]["stock_state"] == "out"
    assert ids(r, "stockout") == {"p-1:stockout:2"}
    assert ids(r, "back_in_stock") == set()
    o.feed(*inv("4", "adjust", 5))
    r = o.result()
    assert r.products["p-1"]["available"] == 3
    assert ids(r, "back_in_stock") == {"p-1:back_in_stock:4"}


def test_stockout_fires_from_unknown_and_not_before_inventory() -> None:
    r = run([beh("v", "view"), inv("c", "count", 0)])
    assert r.products["p-1"]["stock_state"] == "out"
    assert ids(r, "stockout") == {"p-1:stockout:c"}
    r = run([beh("v", "view")])
    assert r.products["p-1"]["stock_state"] == "unknown"
    assert r.products["p-1"]["minutes_to_stockout"] is None
    r = run([inv("a", "adjust", -1)])
    assert ids(r, "stockout") == {"p-1:stockout:a"}
    assert r.products["p-1"]["available"] == -1


def test_demand_spike_floor_and_once_per_window() -> None:
    first = beh("v", "view", ts=T0 - 15 * MIN)  # T0 starts 15 windows after the first one
    recs = [first] + [beh(f"c{i}", "cart_add", ts=T0 + i) for i in range(19)]
    assert ids(run(recs), "demand_spike") == set()
    recs += [beh("c19", "cart_add", ts=T0 + 19), beh("c20", "cart_add", ts=T0 + 20)]
    r = run(recs)
    assert ids(r, "demand_spike") == {"p-1:demand_spike:c19"}
    (spike,) = r.alert_records
    assert (spike["window_start"], spike["value"], spike["baseline"], spike["threshold"]) == (
        T0,
        20,
        0.0,
        20.0,
    )


def test_demand_spike_needs_fifteen_windows_of_history() -> None:
    burst = [beh(f"c{i}", "cart_add", ts=T0 + i) for i in range(40)]
    assert ids(run([beh("v", "view", ts=T0 - 14 * MIN), *burst]), "demand_spike") == set()
    assert ids(run(burst), "demand_spike") == set()
    # A late event one window earlier moves the first window back: the next cart_add spikes.
    late = beh("late", "view", ts=T0 - 15 * MIN)
    r = run([beh("v", "view", ts=T0 - 14 * MIN), *burst[:30], late, *burst[30:]])
    assert ids(r, "demand_spike") == {"p-1:demand_spike:c30"}


def test_demand_spike_threshold_is_three_times_the_previous_fifteen_windows_mean() -> None:
    # 150 cart_adds + units over the 15 previous windows: mean 10, threshold max(20, 30) = 30.
    history = [
        beh(f"h{i}", "purchase", ts=T0 - (1 + i % 15) * MIN, qty=2, price=1) for i in range(50)
    ]
    history += [beh(f"a{i}", "cart_add", ts=T0 - (1 + i % 15) * MIN) for i in range(50)]
    # A 16th window back is outside the mean: it must not raise the threshold.
    history += [beh(f"old{i}", "cart_add", ts=T0 - 16 * MIN) for i in range(40)]
    burst = [beh(f"b{i}", "cart_add", ts=T0 + 1000 + i) for i in range(29)]
    # 29 < 30; the 40 in the 16th window back do not spike either: it is the first window.
    assert ids(run(history + burst), "demand_spike") == set()
    r = run([*history, *burst, beh("b29", "cart_add", ts=T0 + 5000)])
    assert ids(r, "demand_spike") == {"p-1:demand_spike:b29"}
    spike = r.alert_records[-1]
    assert (spike["value"], spike["baseline"], spike["threshold"]) == (30, 10.0, 30.0)


def test_dedup_horizon_is_inclusive_and_scoped_to_topic_and_product() -> None:
    r = run(
        [
            beh("e", "view", ts=T0),
            beh("e", "cart_add", ts=T0 + 600_000),  # within 10 minutes: a duplicate
            beh("e", "view", ts=T0 + 600_001),  # past the horizon: a new event
            beh("e", "view", ts=T0, pid="p-2"),  # another product
            inv("e", "restock", 1),  # another topic
        ]
    )
    assert r.outcomes == ["applied", "duplicate", "applied", "applied", "applied"]
    assert (r.applied, r.duplicate, r.rejected) == (4, 1, 0)
    assert r.products["p-1"]["totals"]["views"] == 2
    assert r.products["p-1"]["events_applied"] == 3


@pytest.mark.parametrize(
    "record",
    [
        ("behavior", b"not json"),
        ("behavior", b"[1, 2]"),
        ("behavior", b'{"event_id": "x", "ts": 1, "product_id": "p", "kind": "view", "x": NaN}'),
        beh("x", "view", qty=1.0),
        beh("x", "view", qty="1"),
        beh("x", "view", qty=True),
        beh("x", "view", qty=0),
        beh("x", "view", ts=-1),
        beh("x", "view", price=-0.01),
        beh("x", "purchase"),
        beh("x", "purchase", price=True),
        beh("x", "like"),
        beh("x", "view", user_id=7),
        beh("x" * 129, "view"),
        beh("x", "view", pid=""),
        inv("x", "restock", 0),
        inv("x", "adjust", 0),
        inv("x", "count", -1),
        inv("x", "sale", 1.0),
        inv("x", "restock", 1, wh=""),
        (
            "inventory",
            b'{"event_id": "x", "ts": 1, "product_id": "p", "kind": "restock", "qty": 1}',
        ),
    ],
)
def test_bad_records_are_rejected(record: tuple[TopicKind, bytes]) -> None:
    r = run([record])
    assert (r.applied, r.duplicate, r.rejected) == (0, 0, 1)
    assert r.products == {}


def test_null_is_absent_and_unknown_fields_are_ignored() -> None:
    r = run(
        [
            beh("x" * 128, "view", qty=None, price=None, user_id=None, colour="red"),
            beh("y", "cart_add", qty=None),
            inv("z", "adjust", -2),
        ]
    )
    assert (r.applied, r.rejected) == (3, 0)
    assert r.products["p-1"]["available"] == -2


def test_low_stock_fires_once_and_rearms_at_one_and_a_quarter_times_the_threshold() -> None:
    o = Oracle()
    o.feed(*beh("v", "view", ts=T0 - 14 * MIN))  # seen for 15 minutes: demand = units / 15
    o.feed(*inv("r1", "restock", 100))
    o.feed(*beh("p1", "purchase", qty=30, price=1))  # demand 2.0/min, 100 left -> 50 minutes
    o.feed(*beh("p2", "view"))  # still below 60: stays disarmed
    assert ids(o.result(), "low_stock") == {"p-1:low_stock:p1"}
    low = o.result().alert_records[-1]
    assert (low["value"], low["baseline"], low["threshold"]) == (50.0, None, 60.0)
    o.feed(*inv("r2", "restock", 49))  # 74.5 minutes: at or above 60, below 75: still disarmed
    o.feed(*inv("s1", "sale", 99))  # 25 minutes: no second alert
    assert ids(o.result(), "low_stock") == {"p-1:low_stock:p1"}
    o.feed(*inv("r3", "restock", 100))  # 75.0 minutes, exactly 1.25 x 60: re-arms
    o.feed(*inv("s2", "sale", 1))  # 74.5: armed, not low
    o.feed(*inv("s3", "sale", 30))  # 59.5: fires again
    assert ids(o.result(), "low_stock") == {"p-1:low_stock:p1", "p-1:low_stock:s3"}
    o.feed(*inv("c1", "count", 0))  # leaving in_stock re-arms
    o.feed(*inv("c2", "count", 10))  # back in stock with 5 minutes left
    r = o.result()
    assert ids(r, "low_stock") == {"p-1:low_stock:p1", "p-1:low_stock:s3", "p-1:low_stock:c2"}
    state = r.products["p-1"]
    assert state["demand_per_min"] == 2.0
    assert state["minutes_to_stockout"] == 5.0


def test_demand_per_min_divides_by_the_minutes_the_product_was_seen() -> None:
    recs = [beh("a", "purchase", qty=6, price=1.5), beh("b", "view", ts=T0 + 2 * MIN)]
    state = run(recs).products["p-1"]
    assert state["demand_per_min"] == 6 / 3
    assert state["recent"] == {
        "minutes": 3,
        "views": 1,
        "cart_adds": 0,
        "cart_removes": 0,
        "purchases": 1,
        "units": 6,
        "revenue": 9.0,
        "view_to_cart": 0.0,
        "cart_to_purchase": None,
    }
    # A late event 20 windows back leaves the sums alone but makes the product 15 minutes old.
    state = run([*recs, beh("late", "cart_add", ts=T0 - 20 * MIN)]).products["p-1"]
    assert state["demand_per_min"] == 6 / 15 and state["recent"]["minutes"] == 15
    assert state["recent"]["cart_adds"] == 0 and state["totals"]["cart_adds"] == 1
    state = run([inv("i", "restock", 5)]).products["p-1"]
    assert state["recent"] is None and state["demand_per_min"] == 0.0


def test_late_events_count_in_kept_windows_and_older_ones_only_in_totals() -> None:
    r = run(
        [
            beh("new", "purchase", ts=T0 + 61 * MIN, qty=2, price=1),
            beh("edge", "purchase", ts=T0 + MIN, qty=4, price=1),  # exactly 60 minutes back: kept
            beh("late", "purchase", ts=T0 + 59 * MIN, qty=8, price=1),
            beh("old", "purchase", ts=T0 + 59_999, qty=16, price=1),  # 61 windows back: totals only
            inv("i", "restock", 5, ts=T0 + 99 * MIN),
        ]
    )
    state = r.products["p-1"]
    assert state["totals"]["units"] == 30
    assert [w["window_start"] for w in r.windows["p-1"]] == [T0 + MIN, T0 + 59 * MIN, T0 + 61 * MIN]
    assert state["demand_per_min"] == 10 / 15
    assert state["minutes_to_stockout"] == 5 / (10 / 15)
    assert state["last_event_ts"] == T0 + 99 * MIN
    assert state["events_applied"] == 5
