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


def funnel(pid: str, by_minute: dict[int, tuple[int, int, int]]) -> ProductState:
    """A product with (views, cart adds, purchases) per minute."""
    s = ProductState(pid)
    n = 0
    for minute, counts in sorted(by_minute.items()):
        for kind, count in zip(("view", "cart_add", "purchase"), counts, strict=True):
            for _ in range(count):
                n += 1
                ev = {"event_id": f"e{n}", "ts": T0 + minute * 60_000 + n, "product_id": pid}
                ev |= {"kind": kind, "qty": 1, "price": 2.5}
                s.apply_behavior(ev, RULES)
    return s


def test_top_ranks_by_funnel_ratios_over_the_last_minutes() -> None:
    states = [
        funnel("a", {0: (10, 9, 0), 9: (10, 2, 1), 10: (10, 4, 2)}),  # 6/20 in windows 9-10
        funnel("b", {10: (4, 2, 2)}),  # 2/4
        funnel("c", {10: (5, 0, 0)}),  # views, no cart adds: ratio 0, left out
        funnel("d", {10: (0, 3, 0)}),  # cart adds without views: no ratio, left out
        funnel("e", {0: (1, 1, 1)}),  # only before the period
    ]
    since = top_since(T0 + 10 * 60_000 + 30_000, minutes=2)
    got = local_top(states, "view_to_cart", since, 2, n=10)
    assert [(p["product_id"], p["value"]) for p in got] == [("b", 0.5), ("a", 0.3)]
    assert (got[1]["cart_adds"], got[1]["views"]) == (6, 20)
    assert got[1]["series"] == [0.2, 0.4]
    assert got[0]["series"] == [None, 0.5]  # no views in window 9: no rate, not a zero rate
    purchase = local_top(states, "cart_to_purchase", since, 2, n=10)
    assert [(p["product_id"], p["value"]) for p in purchase] == [("b", 1.0), ("a", 0.5)]
    assert (purchase[1]["purchases"], purchase[1]["cart_adds"]) == (3, 6)


def test_a_ratio_needs_min_base_events_in_its_denominator() -> None:
    states = [funnel("small", {0: (2, 2, 0)}), funnel("big", {0: (20, 10, 0)})]
    assert [p["product_id"] for p in local_top(states, "view_to_cart", T0, 1, 10)] == [
        "small",
        "big",
    ]
    at_edge = local_top(states, "view_to_cart", T0, 1, 10, min_base=20)  # 20 views: kept
    assert [p["product_id"] for p in at_edge] == ["big"]
    assert local_top(states, "view_to_cart", T0, 1, 10, min_base=21) == []  # one past it
    # min_base does not apply to counters
    assert len(local_top(states, "views", T0, 1, 10, min_base=1000)) == 2


def test_ratio_ties_break_by_product_id_and_merge_across_workers() -> None:
    def top(states: list[ProductState]) -> list[dict[str, Any]]:
        return local_top(states, "view_to_cart", T0, 1, n=2)

    w1 = top([funnel("z", {0: (4, 2, 0)}), funnel("m", {0: (3, 1, 0)})])  # 0.5, 0.33
    w2 = top([funnel("a", {0: (2, 1, 0)}), funnel("q", {0: (5, 1, 0)})])  # 0.5, 0.2
    assert [p["product_id"] for p in merge_top([w1, w2], n=3)] == ["a", "z", "m"]


def test_stock_lists_low_soonest_first_and_sold_out_by_lost_demand() -> None:
    states = [
        product("slow", {0: 1}, stock=750),  # seen 1 minute: 750 / (1/1) = 750 min, not low
        product("soon", {0: 15}, stock=150),  # 150 / (15/1): 10 min to stockout
        product("later", {0: 15}, stock=450),  # 30 min
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


def test_alerts_filtered_by_product_match_its_id_exactly() -> None:
    odd = '<b>&amp;"x"/\x07'
    alerts = [alert(odd, 4), alert("<b>", 3), alert(odd.upper(), 2)]
    assert [a["product_id"] for a in local_alerts(alerts, None, 10, odd)] == [odd]
    assert [a["product_id"] for a in local_alerts(alerts, "low_stock", 10, odd)] == []
    assert len(local_alerts(alerts, None, 10, None)) == 3


def test_scatter_results_must_cover_every_partition_exactly_once() -> None:
    check_coverage([[0, 2], [1, 3]], 4)
    with pytest.raises(PeerError):
        check_coverage([[0, 2], [1]], 4)  # a partition is moving
    with pytest.raises(PeerError):
        check_coverage([[0, 1, 2], [2, 3]], 4)  # two workers think they own 2
