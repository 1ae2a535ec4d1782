"""The traffic generator: reproducible, honest about its labels, and shaped like a real shop.

Engine tests replay its traces and judge the results with the oracle, so a
trace must be the same for the same seed and its ``bad`` / ``duplicate``
labels must be what the contract says about those records.  The alert report
judges hunt's alerts against the surges the generator says it injected, so
those must be where the demand really surged.  And the shop must look like
one: a real funnel, stock sized from demand that sometimes runs out and never
piles up, a daily rhythm and lulls when asked for.
"""

from __future__ import annotations

import collections
import itertools
from collections.abc import Iterator
from functools import cache
from typing import Any

import orjson
import pytest

from hunt.ops.traffic import RHYTHM, Shape, TraceRecord, Traffic, generate
from tests.oracle import OracleResult, run

START = 1_764_147_600_000  # 2025-11-26 09:00 UTC
EVENTS = 20_000
HOUR_MS = 3_600_000


@cache
def trace(seed: int = 7, rate: float = 20.0) -> tuple[TraceRecord, ...]:
    return tuple(generate(seed, 500, EVENTS, START, rate))


@cache
def judged(seed: int = 7, rate: float = 20.0) -> OracleResult:
    return run((r.topic_kind, r.value) for r in trace(seed, rate))


def until(traffic: Traffic, end_ms: float) -> Iterator[TraceRecord]:
    """The records of ``traffic`` with event time (slot time) before ``end_ms``."""
    for record in traffic.records():
        if traffic.clock_ms >= end_ms:
            return
        yield record


@cache
def shop_hour(seed: int = 3, flash: bool = True) -> tuple[Traffic, tuple[dict[str, Any], ...]]:
    """One hour of a 200-product shop at 50 records/s, decoded (good records only)."""
    traffic = Traffic(seed, 200, START, 50.0, 0.0, 0.0, Shape(flash_sales=flash))
    bodies = tuple(
        orjson.loads(r.value) | {"topic": r.topic_kind} for r in until(traffic, START + HOUR_MS)
    )
    return traffic, bodies


def test_same_seed_same_bytes_other_seed_other_trace() -> None:
    assert list(generate(3, 50, 2_000, START, 100.0)) == list(generate(3, 50, 2_000, START, 100.0))
    assert list(generate(3, 50, 2_000, START, 100.0)) != list(generate(4, 50, 2_000, START, 100.0))
    assert len(trace()) == EVENTS
    shaped = Shape(rhythm=True, lulls=True)
    one = list(generate(3, 50, 5_000, START, 5.0, shape=shaped))
    assert one == list(generate(3, 50, 5_000, START, 5.0, shape=shaped))


def test_shares_of_duplicates_and_malformed_records_are_near_the_requested_ones() -> None:
    records = trace()
    assert 0.007 < sum(r.duplicate for r in records) / EVENTS < 0.013
    assert 0.003 < sum(r.bad for r in records) / EVENTS < 0.007
    busy = list(generate(1, 100, 10_000, START, 50.0, dup_share=0.1, bad_share=0.05))
    assert 0.08 < sum(r.duplicate for r in busy) / len(busy) < 0.12
    assert 0.04 < sum(r.bad for r in busy) / len(busy) < 0.06


def test_zero_shares_give_no_duplicates_and_no_malformed_records() -> None:
    clean = list(generate(1, 100, 10_000, START, 50.0, dup_share=0, bad_share=0))
    assert not any(r.duplicate or r.bad for r in clean)
    assert len({orjson.loads(r.value)["event_id"] for r in clean}) == len(clean)
    only_bad = list(generate(1, 100, 2_000, START, 50.0, dup_share=0, bad_share=0.999))
    assert sum(r.bad for r in only_bad) > 1_990


@pytest.mark.parametrize(("dup", "bad"), [(-0.01, 0.0), (0.0, -0.01), (0.5, 0.5), (1.0, 0.0)])
def test_shares_outside_their_range_are_refused(dup: float, bad: float) -> None:
    with pytest.raises(ValueError, match="share"):
        Traffic(1, 10, START, 10.0, dup, bad)


def test_labels_match_what_the_oracle_decides() -> None:
    result = judged()
    expected = ["rejected" if r.bad else "duplicate" if r.duplicate else "applied" for r in trace()]
    assert result.outcomes == expected


def test_malformed_records_are_varied_and_keyed_when_the_product_is_readable() -> None:
    bad = [r for r in trace(seed=11) if r.bad]
    shapes: collections.Counter[str] = collections.Counter()
    for r in bad:
        try:
            body = orjson.loads(r.value)
        except orjson.JSONDecodeError:
            shapes["not json"] += 1
            continue
        if not isinstance(body, dict):
            shapes["not an object"] += 1
        elif "product_id" not in body:
            shapes["no product"] += 1
        else:
            shapes[r.topic_kind] += 1
            assert r.key == body["product_id"].encode()
    assert len(shapes) == 5, shapes
    assert {r.topic_kind for r in bad} == {"behavior", "inventory"}


def test_good_records_have_unique_ids_and_product_keys() -> None:
    seen: set[str] = set()
    for r in trace():
        if r.bad or r.duplicate:
            continue
        body = orjson.loads(r.value)
        assert body["event_id"] not in seen
        seen.add(body["event_id"])
        assert body["event_id"][0] == r.topic_kind[0]
        assert r.key == body["product_id"].encode()


def test_duplicates_resend_a_record_from_a_few_seconds_earlier() -> None:
    records = trace()
    position = {r.value: i for i, r in reversed(list(enumerate(records))) if not r.duplicate}
    for i, r in enumerate(records):
        if r.duplicate:
            assert 0 < i - position[r.value] <= 3 * 20  # within 3 s of event time at 20/s


def test_products_start_stocked_and_event_time_follows_the_rate() -> None:
    records = trace()
    good = (r for r in records if not (r.bad or r.duplicate))
    opening = [
        orjson.loads(r.value)
        for r in itertools.takewhile(lambda r: r.topic_kind == "inventory", good)
    ]
    assert {b["kind"] for b in opening} == {"restock", "count"}  # a few are out of stock
    assert len({b["product_id"] for b in opening}) == 500
    last = orjson.loads(next(r.value for r in reversed(records) if not r.bad))
    assert abs(last["ts"] - (START + EVENTS / 20.0 * 1000)) < 300_000
    ts = [orjson.loads(r.value)["ts"] for r in records if not r.bad]
    late = sum(1 for a, b in itertools.pairwise(ts) if b < a - 2_000)
    assert 0 < late < EVENTS * 0.01  # some events are minutes late, most are not
    assert judged().products and all(
        p["stock_state"] != "unknown" for p in judged().products.values()
    )


def test_the_funnel_is_a_real_shops() -> None:
    _, bodies = shop_hour(flash=False)
    sessions: dict[str, set[str]] = collections.defaultdict(set)
    sessions_of_user: dict[str, set[str]] = collections.defaultdict(set)
    kinds: collections.Counter[str] = collections.Counter()
    carted_in: dict[tuple[str, str], str] = {}
    bought_later = 0
    for b in bodies:
        if b["topic"] != "behavior":
            continue
        kinds[b["kind"]] += 1
        sessions[b["session_id"]].add(b["kind"])
        sessions_of_user[b["user_id"]].add(b["session_id"])
        line = (b["user_id"], b["product_id"])
        if b["kind"] == "cart_add":
            carted_in.setdefault(line, b["session_id"])
        elif b["kind"] == "purchase" and carted_in.get(line, b["session_id"]) != b["session_id"]:
            bought_later += 1
    buying = sum("purchase" in s for s in sessions.values()) / len(sessions)
    carting = sum("cart_add" in s for s in sessions.values()) / len(sessions)
    assert 0.02 <= buying <= 0.04  # real shops convert 2-4% of sessions
    assert 0.06 <= carting <= 0.12  # ... and see a cart in about one session in ten
    assert 0.6 <= 1 - kinds["purchase"] / kinds["cart_add"] <= 0.8  # ~70% of carts abandoned
    assert 0.8 < kinds["view"] / sum(kinds.values()) < 0.97  # most clicks only look
    returning = sum(len(s) > 1 for s in sessions_of_user.values()) / len(sessions_of_user)
    assert returning > 0.15  # shoppers come back in several sessions
    assert bought_later > 0.2 * kinds["purchase"]  # ... and buy a cart they filled before


def _stock_over_time(bodies: tuple[dict[str, Any], ...]) -> dict[str, list[int]]:
    on_hand: dict[tuple[str, str], int] = collections.defaultdict(int)
    available: dict[str, int] = collections.defaultdict(int)
    history: dict[str, list[int]] = collections.defaultdict(list)
    for b in bodies:
        if b["topic"] != "inventory":
            continue
        key = (b["product_id"], b["warehouse"])
        before = on_hand[key]
        qty = b["qty"]
        on_hand[key] = {"restock": before + qty, "sale": before - qty, "adjust": before + qty}.get(
            b["kind"], qty
        )
        available[b["product_id"]] += on_hand[key] - before
        history[b["product_id"]].append(available[b["product_id"]])
    return history


def test_stock_is_sized_from_demand_runs_out_sometimes_and_never_piles_up() -> None:
    traffic, bodies = shop_hour(flash=False)
    history = _stock_over_time(bodies)
    expected = dict(zip(traffic.pids, traffic.expected_per_min, strict=True))
    ran_out = [p for p, h in history.items() if min(h[3:], default=1) <= 0 < max(h[:3])]
    assert ran_out, "no regular product ran out in an hour"
    assert len(ran_out) < 0.2 * len(history)
    for pid, h in history.items():
        hours_of_cover = max(h) / (expected[pid] * 60)
        assert hours_of_cover < 40, (pid, max(h), expected[pid])  # a case pack of a slow mover
    opening = itertools.takewhile(lambda b: b["topic"] == "inventory", bodies)
    start = sum(b["qty"] for b in opening)
    end = sum(h[-1] for h in history.values())
    assert 0.5 < end / start < 1.5, (start, end)  # stock turns over, it does not accumulate
    restocks = [b for b in bodies if b.get("kind") == "restock" and b["topic"] == "inventory"]
    assert len(restocks) > len(history)  # the opening stock, then deliveries during the hour


def test_flash_sales_are_recorded_where_the_demand_surged_and_sell_the_deal_out() -> None:
    traffic, bodies = shop_hour()
    assert len(traffic.surges) >= 10
    demand: collections.Counter[tuple[str, int]] = collections.Counter()
    for b in bodies:
        if b["topic"] == "behavior" and b["kind"] in ("cart_add", "purchase"):
            demand[(b["product_id"], b["ts"] // 60_000)] += (
                b["qty"] if b["kind"] == "purchase" else 1
            )
    history = _stock_over_time(bodies)
    for surge in traffic.surges[:-1]:  # the last may be cut off by the end of the hour
        assert surge.start_ts < surge.end_ts <= surge.start_ts + 40_000
        windows = range(surge.start_ts // 60_000, surge.end_ts // 60_000 + 1)
        assert max(demand[(surge.product_id, w)] for w in windows) >= 20  # a spike rule sees it
        assert min(history[surge.product_id]) <= 0  # the crowd clears the deal
    ranks = {k: rank for rank, k in enumerate(traffic.by_rank)}
    assert all(ranks[traffic.pids.index(s.product_id)] >= 40 for s in traffic.surges)  # slow movers


@pytest.mark.parametrize("hour", [4, 20])
def test_the_daily_rhythm_sets_the_rate_by_local_hour(hour: int) -> None:
    rate = 20.0
    at = START - START % 86_400_000 + hour * 3_600_000 - 3_600_000  # the local clock is UTC+1
    traffic = Traffic(1, 50, at, rate, 0, 0, Shape(rhythm=True, utc_offset_s=3_600))
    n = sum(1 for _ in until(traffic, at + 600_000))
    level = RHYTHM[hour] + (RHYTHM[hour + 1] - RHYTHM[hour]) / 12  # its first ten minutes
    assert n == pytest.approx(rate * 600 * level, rel=0.05)


def test_lulls_drop_traffic_to_their_depth_and_are_recorded() -> None:
    rate = 10.0
    traffic = Traffic(2, 50, START, rate, 0, 0, Shape(lulls=True))
    times = [traffic.clock_ms for _ in until(traffic, START + 4 * HOUR_MS)]
    assert traffic.lulls
    for lull in traffic.lulls:
        inside = sum(1 for t in times if lull.start_ts <= t < lull.end_ts)
        length_s = (min(lull.end_ts, times[-1]) - lull.start_ts) / 1000
        assert inside == pytest.approx(rate * length_s * lull.depth, rel=0.1, abs=3)
        assert 0.05 <= lull.depth <= 0.3
        assert 300_000 <= lull.end_ts - lull.start_ts <= 1_200_000


def test_popularity_is_skewed() -> None:
    views = sorted((p["totals"]["views"] for p in judged().products.values()), reverse=True)
    top_share = sum(views[:5]) / sum(views)
    assert top_share > 0.15  # the top 1% of products draw a large share of attention
