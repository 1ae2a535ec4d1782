"""The traffic generator: reproducible, honest about its labels, and eventful enough.

Engine tests replay its traces and judge the results with the oracle, so a
trace must be the same for the same seed, its ``bad`` / ``duplicate`` labels
must be what the contract says about those records, and its flash sales must
actually cause the alerts the dashboard and the tests look for.
"""

from __future__ import annotations

import collections
import itertools
from functools import cache

import orjson
import pytest

from hunt.ops.traffic import TraceRecord, generate
from tests.oracle import OracleResult, run

START = 1_764_147_600_000
EVENTS = 20_000


@cache
def trace(seed: int = 7, rate: float = 20.0) -> tuple[TraceRecord, ...]:
    return tuple(generate(seed, 500, EVENTS, START, rate))


@cache
def judged(seed: int = 7, rate: float = 20.0) -> OracleResult:
    return run((r.topic_kind, r.value) for r in trace(seed, rate))


def test_same_seed_same_bytes_other_seed_other_trace() -> None:
    assert list(generate(3, 50, 2_000, START, 100.0)) == list(generate(3, 50, 2_000, START, 100.0))
    assert list(generate(3, 50, 2_000, START, 100.0)) != list(generate(4, 50, 2_000, START, 100.0))
    assert len(trace()) == EVENTS


def test_shares_of_duplicates_and_malformed_records_are_near_the_requested_ones() -> None:
    records = trace()
    assert 0.007 < sum(r.duplicate for r in records) / EVENTS < 0.013
    assert 0.003 < sum(r.bad for r in records) / EVENTS < 0.007
    busy = list(generate(1, 100, 10_000, START, 50.0, dup_share=0.1, bad_share=0.05))
    assert 0.08 < sum(r.duplicate for r in busy) / len(busy) < 0.12
    assert 0.04 < sum(r.bad for r in busy) / len(busy) < 0.06


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


def test_products_start_in_stock_and_event_time_follows_the_rate() -> None:
    records = trace()
    first = [orjson.loads(r.value) for r in records[:400] if not (r.bad or r.duplicate)]
    assert {b["kind"] for b in first[:300]} == {"restock"}
    last = orjson.loads(next(r.value for r in reversed(records) if not r.bad))
    assert abs(last["ts"] - (START + EVENTS / 20.0 * 1000)) < 300_000
    ts = [orjson.loads(r.value)["ts"] for r in records if not r.bad]
    late = sum(1 for a, b in itertools.pairwise(ts) if b < a - 2_000)
    assert 0 < late < EVENTS * 0.01  # some events are minutes late, most are not


@pytest.mark.parametrize("rate", [20.0, 200.0])
def test_flash_sales_spike_demand_and_sell_out(rate: float) -> None:
    result = judged(rate=rate)
    spiked = {a.split(":")[0] for a in result.alerts["demand_spike"]}
    sold_out = {a.split(":")[0] for a in result.alerts["stockout"]}
    assert spiked & sold_out, "no product both spiked and sold out"
    stock_states = collections.Counter(p["stock_state"] for p in result.products.values())
    assert stock_states["unknown"] == 0
    revenue = sum(p["totals"]["revenue"] for p in result.products.values())
    assert revenue > 0


def test_popularity_is_skewed() -> None:
    views = sorted((p["totals"]["views"] for p in judged().products.values()), reverse=True)
    top_share = sum(views[:5]) / sum(views)
    assert top_share > 0.15  # the top 1% of products draw a large share of attention
