"""Read-side queries over product states: top-N, stock watch, alerts, merges.

Pure functions over :class:`ProductState` objects and plain dicts, so the
ranking rules are unit-tested without Faust. A worker runs the ``local_*``
functions over its own active partitions; the worker that received the
request merges the per-worker answers with the ``merge_*`` functions.

``/top`` ranks by a counter summed over the windows of the last N minutes of
stream time, or by a funnel ratio of two such sums (``view_to_cart`` =
cart_adds / views, ``cart_to_purchase`` = purchases / cart_adds, as in the
``recent`` block of SPEC section 2). A ratio of a handful of events says
little, so a product is ranked by a ratio only when its denominator is at
least ``min_base``.

The ``indexed_*`` functions answer the same from a partition's
:class:`~hunt.domain.view_index.ViewIndex`, item for item: every item is built
by the same helpers, from a summary that reads as the state does.

Ranking is deterministic: value descending, then ``product_id`` ascending, so
every worker and the tests agree on ties.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable
from typing import Any, Protocol

from hunt.domain.product import ProductState
from hunt.domain.product_summary import ProductSummary
from hunt.domain.view_index import ViewIndex
from hunt.domain.windows import COUNTER_NAMES, WINDOW_MS, counter_value, window_start

__all__ = [
    "ALERT_KINDS",
    "COUNTERS",
    "MAX_BASE",
    "METRICS",
    "RATIOS",
    "ProductView",
    "indexed_ratio_top",
    "indexed_stock",
    "indexed_top",
    "local_alerts",
    "local_stock",
    "local_top",
    "merge_alerts",
    "merge_stock",
    "merge_top",
    "series_of",
    "top_since",
]

COUNTERS: dict[str, int] = {name: i for i, name in enumerate(COUNTER_NAMES)}
# ratio -> (numerator, denominator), both counter names.
RATIOS: dict[str, tuple[str, str]] = {
    "view_to_cart": ("cart_adds", "views"),
    "cart_to_purchase": ("purchases", "cart_adds"),
}
METRICS: tuple[str, ...] = (*COUNTERS, *RATIOS)
MAX_BASE = 1_000_000_000  # bound of min_base: 10^9 events of one product a day is 11,600/s.
ALERT_KINDS = ("stockout", "back_in_stock", "low_stock", "demand_spike")
SPARK_MINUTES = 30  # the dashboard's sparkline spans half an hour of a product's demand.
_UNITS = COUNTERS["units"]


class ProductView(Protocol):
    """What an answer item is built from: a product's state, or its index summary."""

    product_id: str
    available: int
    stock_state: str
    last_event_ts: int | None

    @property
    def demand_per_min(self) -> float: ...

    @property
    def newest_window(self) -> int | None: ...

    def minutes_to_stockout(self, demand: float | None = None) -> float | None: ...

    def window_counter(self, start: int, counter: int) -> float: ...


def top_since(stream_time: int, minutes: int) -> int:
    """Start of the oldest window in "the last N minutes of stream time"."""
    return window_start(stream_time) - (minutes - 1) * WINDOW_MS


def _series(state: ProductView, counter: int, first: int, count: int) -> list[float]:
    """Counter values of ``count`` consecutive windows starting at ``first`` (0 if empty)."""
    return [state.window_counter(first + k * WINDOW_MS, counter) for k in range(count)]


def _brief(state: ProductView) -> dict[str, Any]:
    demand = state.demand_per_min
    return {
        "product_id": state.product_id,
        "available": state.available,
        "stock_state": state.stock_state,
        "demand_per_min": demand,
        "minutes_to_stockout": state.minutes_to_stockout(demand),
        "last_event_ts": state.last_event_ts,
    }


def _rank_key(item: dict[str, Any]) -> tuple[float, str]:
    return (-item["value"], item["product_id"])


def local_top(
    states: Iterable[ProductState],
    metric: str,
    since: int,
    minutes: int,
    n: int,
    min_base: int = 1,
) -> list[dict[str, Any]]:
    """This worker's top ``n`` products for ``metric`` over windows ``>= since``.

    Products with a zero value are left out: "top movers" that did not move are
    noise. A ratio also leaves out products whose denominator is below ``min_base``
    (``min_base`` does not apply to counters). Each state is read in one pass
    over its windows, whatever the metric.
    """
    if metric in RATIOS:
        return _top_ratio(states, metric, since, minutes, n, max(1, min_base))
    counter = COUNTERS[metric]
    best: list[tuple[tuple[float, str], dict[str, Any], ProductState]] = []
    for state in states:
        value = state.sum_recent(counter, since)
        if value <= 0:
            continue
        item = {"product_id": state.product_id, "value": value}
        best.append((_rank_key(item), item, state))
    chosen = heapq.nsmallest(n, best, key=lambda t: t[0])
    out = []
    for _, item, state in chosen:
        item.update(_brief(state))
        item["series"] = _series(state, counter, since, minutes)
        out.append(item)
    return out


def _top_ratio(
    states: Iterable[ProductState], metric: str, since: int, minutes: int, n: int, min_base: int
) -> list[dict[str, Any]]:
    """:func:`local_top` for a funnel ratio; items carry both sums beside the ratio."""
    num_name, den_name = RATIOS[metric]
    num_i, den_i = COUNTERS[num_name], COUNTERS[den_name]
    best: list[tuple[tuple[float, str], dict[str, Any], ProductState]] = []
    for state in states:
        num = den = 0
        for start, w in state.windows.items():
            if start >= since:
                num += int(counter_value(w, num_i))
                den += int(counter_value(w, den_i))
        if den < min_base or num == 0:
            continue
        item = {"product_id": state.product_id, "value": num / den, num_name: num, den_name: den}
        best.append((_rank_key(item), item, state))
    chosen = heapq.nsmallest(n, best, key=lambda t: t[0])
    out = []
    for _, item, state in chosen:
        item.update(_brief(state))
        item["series"] = _ratio_series(state, num_i, den_i, since, minutes)
        out.append(item)
    return out


def _ratio_series(
    state: ProductView, num: int, den: int, first: int, count: int
) -> list[float | None]:
    """Per-minute ratio of two counters; None for a minute whose denominator is 0."""
    out: list[float | None] = []
    for k in range(count):
        d = state.window_counter(first + k * WINDOW_MS, den)
        out.append(state.window_counter(first + k * WINDOW_MS, num) / d if d else None)
    return out


def series_of(state: ProductView, metric: str, since: int, minutes: int) -> list[Any]:
    """The per-minute series of one ranked item, as :func:`local_top` builds it."""
    if metric in RATIOS:
        num_name, den_name = RATIOS[metric]
        return _ratio_series(state, COUNTERS[num_name], COUNTERS[den_name], since, minutes)
    return _series(state, COUNTERS[metric], since, minutes)


def indexed_top(
    index: ViewIndex, metric: str, since: int, n: int, min_base: int = 1
) -> list[tuple[dict[str, Any], ProductSummary]]:
    """:func:`local_top` of the partition ``index`` holds, without series: each item
    with a copy of its summary, to build the series from later.

    A ratio reads every summary at once here; the worker views slice it with
    :func:`indexed_ratio_top`.
    """
    if metric in RATIOS:
        return indexed_ratio_top(index, metric, since, n, min_base, list(index.products))
    out = []
    for value, pid in index.top_counter(COUNTERS[metric], since, n):
        s = index.products[pid].copy()
        out.append(({"product_id": pid, "value": value, **_brief(s)}, s))
    return out


def indexed_ratio_top(
    index: ViewIndex, metric: str, since: int, n: int, min_base: int, among: Iterable[str]
) -> list[tuple[dict[str, Any], ProductSummary]]:
    """:func:`indexed_top` for a funnel ratio, over the products ``among`` only."""
    num_name, den_name = RATIOS[metric]
    best = index.top_ratio(
        COUNTERS[num_name], COUNTERS[den_name], since, n, max(1, min_base), among
    )
    out = []
    for value, num, den, pid in best:
        s = index.products[pid].copy()
        item = {"product_id": pid, "value": value, num_name: num, den_name: den, **_brief(s)}
        out.append((item, s))
    return out


def indexed_stock(index: ViewIndex, n: int) -> dict[str, list[dict[str, Any]]]:
    """:func:`local_stock` of the partition ``index`` holds, for its ``low_minutes``."""
    return {
        "low": [{**_brief(s), "series": _spark(s)} for s in index.low_stock(n)],
        "out": [{**_brief(s), "series": _spark(s)} for s in index.sold_out(n)],
    }


def merge_top(parts: Iterable[list[dict[str, Any]]], n: int) -> list[dict[str, Any]]:
    return heapq.nsmallest(n, (i for part in parts for i in part), key=_rank_key)


def _spark(state: ProductView) -> list[float]:
    if state.newest_window is None:
        return []
    first = state.newest_window - (SPARK_MINUTES - 1) * WINDOW_MS
    return _series(state, _UNITS, first, SPARK_MINUTES)


def _low_key(item: dict[str, Any]) -> tuple[float, str]:
    return (item["minutes_to_stockout"], item["product_id"])


def _out_key(item: dict[str, Any]) -> tuple[float, str]:
    return (-item["demand_per_min"], item["product_id"])


def local_stock(
    states: Iterable[ProductState], low_minutes: float, n: int
) -> dict[str, list[dict[str, Any]]]:
    """Products running low (in stock, stockout within ``low_minutes``) and sold out.

    Low stock is ordered by minutes to stockout (soonest first); sold-out products
    by current demand (the most sales being lost first).
    """
    low: list[dict[str, Any]] = []
    out: list[dict[str, Any]] = []
    for state in states:
        if state.stock_state == "out":
            out.append({**_brief(state), "series": _spark(state)})
        elif state.stock_state == "in_stock":
            brief = _brief(state)
            minutes = brief["minutes_to_stockout"]
            if minutes is not None and minutes < low_minutes:
                low.append({**brief, "series": _spark(state)})
    return {
        "low": heapq.nsmallest(n, low, key=_low_key),
        "out": heapq.nsmallest(n, out, key=_out_key),
    }


def merge_stock(
    parts: Iterable[dict[str, list[dict[str, Any]]]], n: int
) -> dict[str, list[dict[str, Any]]]:
    parts = list(parts)
    return {
        "low": heapq.nsmallest(n, (i for p in parts for i in p["low"]), key=_low_key),
        "out": heapq.nsmallest(n, (i for p in parts for i in p["out"]), key=_out_key),
    }


def _alert_key(alert: dict[str, Any]) -> tuple[int, str]:
    return (-int(alert["ts"]), str(alert["alert_id"]))


def local_alerts(
    alerts: Iterable[dict[str, Any]], kind: str | None, limit: int, product_id: str | None = None
) -> list[Any]:
    """This worker's newest ``limit`` alerts, of one ``kind`` and one product when given."""
    chosen = (
        a
        for a in alerts
        if (kind is None or a["kind"] == kind)
        and (product_id is None or a["product_id"] == product_id)
    )
    return merge_alerts([list(chosen)], limit)


def merge_alerts(parts: Iterable[list[dict[str, Any]]], limit: int) -> list[dict[str, Any]]:
    """Newest first by event time; an alert re-emitted after a replay appears once."""
    unique: dict[str, dict[str, Any]] = {}
    for part in parts:
        for alert in part:
            unique.setdefault(str(alert["alert_id"]), alert)
    return heapq.nsmallest(limit, unique.values(), key=_alert_key)
