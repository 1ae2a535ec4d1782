"""Ranking and merging rules of /top, /stock and /alerts, without a broker."""

from __future__ import annotations

from typing import Any

import pytest

from hunt.domain.product import ProductState, Rules
from hunt.web.queries import (
    local_alerts,
    local_stock,
    local_top,
    merge_alerts,
    merge_stock,
    merge_top,
    top_since,
)
from hunt.web.routing import PeerError, check_coverage

T0 = 1_764_147_600_000
RULES = Rules()


def product(pid: str, units_by_minute: dict[int, int], stock: int | None = None) -> ProductState:
    s = ProductState(pid)
    n = 0
    if stock is not None:
        s.apply_inventory(
            {
                "event_id": "i",
                "ts": T0,
                "product_id": pid,
                "warehouse": "w",
                "kind": "count",
                "qty": stock,
            },
            RULES,
        )
    for minute, units in sorted(units_by_minute.items()):
        n += 1
        s.apply_behavior(
            {
                "event_id": f"b{n}",
                "ts": T0 + minute * 60_000 + 5,
                "product_id": pid,
                "kind": "purchase",
                "qty": units,
                "price": 1.0,
            },
            RULES,
        )
    return s


def test_top_counts_only_the_last_minutes_of_stream_time() -> None:
    states = [product("a", {0: 9, 10: 1}), product("b", {9: 3, 10: 2}), product("c", {0: 1})]
    since = top_since(T0 + 10 * 60_000 + 30_000, minutes=2)  # windows 9 and 10
    got = local_top(states, "units", since, 2, n=10)
    assert [(p["product_id"], p["value"]) for p in got] == [("b", 5.0), ("a", 1.0)]
    assert got[0]["series"] == [3.0, 2.0]  # one value per minute, oldest first


def test_top_breaks_ties_by_product_id_and_merges_across_workers() -> None:
    w1 = local_top([product("z", {0: 4}), product("m", {0: 2})], "units", T0, 1, n=2)
    w2 = local_top([product("a", {0: 4}), product("q", {0: 3})], "units", T0, 1, n=2)
    merged = merge_top([w1, w2], n=3)
    assert [p["product_id"] for p in merged] == ["a", "z", "q"]


def test_stock_lists_low_soonest_first_and_sold_out_by_lost_demand() -> None:
    states = [
        product("slow", {0: 1}, stock=50),  # 50 / (1/15) = 750 min: not low
        product("soon", {0: 15}, stock=10),  # 10 min to stockout
        product("later", {0: 15}, stock=30),  # 30 min
        product("gone", {0: 30}, stock=0),
        product("gone-quiet", {}, stock=0),
    ]
    lists = local_stock(states, low_minutes=60, n=5)
    assert [p["product_id"] for p in lists["low"]] == ["soon", "later"]
    assert [p["product_id"] for p in lists["out"]] == ["gone", "gone-quiet"]
    assert lists["low"][0]["minutes_to_stockout"] == pytest.approx(10.0)
    merged = merge_stock([lists, {"low": [], "out": []}], n=1)
    assert [p["product_id"] for p in merged["low"]] == ["soon"]


def alert(aid: str, ts: int, kind: str = "stockout") -> dict[str, Any]:
    return {"alert_id": aid, "ts": ts, "kind": kind, "product_id": aid}


def test_alerts_newest_first_once_each_and_filtered_by_kind() -> None:
    w1 = [alert("a", 1), alert("b", 3), alert("c", 2, "low_stock")]
    w2 = [alert("b", 3), alert("d", 5)]  # "b" re-emitted by a new owner after a replay
    merged = merge_alerts([local_alerts(w1, None, 10), local_alerts(w2, None, 10)], 3)
    assert [a["alert_id"] for a in merged] == ["d", "b", "c"]
    assert [a["alert_id"] for a in local_alerts(w1, "stockout", 10)] == ["b", "a"]


def test_scatter_results_must_cover_every_partition_exactly_once() -> None:
    check_coverage([[0, 2], [1, 3]], 4)
    with pytest.raises(PeerError):
        check_coverage([[0, 2], [1]], 4)  # a partition is moving
    with pytest.raises(PeerError):
        check_coverage([[0, 1, 2], [2, 3]], 4)  # two workers think they own 2
