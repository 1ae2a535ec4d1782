"""The view index answers /top and /stock exactly as a pass over every product state would.

Products are changed the way the engine changes them (events applied in
batches, late and duplicate-looking events, inventory moves, windows expiring,
a state re-read from its stored form between batches) and the index is fed as
the engine feeds it; at each checkpoint every answer from the index is compared
with :func:`local_top` / :func:`local_stock` over the states.

``python -m tests.unit.domain.test_view_index`` measures the index's memory per
product (what ``PRODUCT_BYTES`` and ``WINDOW_BYTES`` rest on) and the engine
hook's cost per touched product.
"""

from __future__ import annotations

import itertools
import random
import time
import tracemalloc
from typing import Any

import pytest

from hunt.domain.events import Event
from hunt.domain.product import ProductState, Rules
from hunt.domain.product_summary import PRODUCT_BYTES, WINDOW_BYTES, ProductSummary
from hunt.domain.view_index import ViewIndex, ViewIndexes, bucket, bucket_max
from hunt.domain.windows import VIEWS, WINDOW_MS
from hunt.web.queries import (
    METRICS,
    indexed_stock,
    indexed_top,
    local_stock,
    local_top,
    series_of,
    top_since,
)
from hunt.web.views import MAX_N

T0 = 1_764_147_600_000
RULES = Rules()
LOW_MINUTES = 60.0
KINDS = ("view", "view", "view", "cart_add", "cart_add", "cart_remove", "purchase")
PRICES = (0, 0.0, 1, 2.5, 19.99, 0.1, 129.95, 1e-7, 1_000_000_000)


class Shop:
    """Products changed in batches as the engine changes them, and an index fed likewise."""

    def __init__(self, seed: int, products: int, limit_bytes: int = 1 << 40) -> None:
        self.rng = random.Random(seed)
        self.ids = [f"p-{i:03d}" for i in range(products)]
        self.states: dict[str, ProductState] = {}
        self.index = ViewIndex(limit_bytes, LOW_MINUTES)
        self.now = T0
        self.n = 0

    def event(self, pid: str) -> Event:
        rng = self.rng
        self.n += 1
        if rng.random() < 0.2:
            kind = rng.choice(("count", "sale", "restock", "count"))
            qty = rng.choice((0, 1, 3, 40, 500)) if kind == "count" else rng.randint(1, 30)
            ts = self.now + rng.randint(0, 59_999)
            return {
                "event_id": f"i{self.n}",
                "ts": ts,
                "product_id": pid,
                "warehouse": rng.choice(("w1", "w2")),
                "kind": kind,
                "qty": qty,
            }
        late = rng.random() < 0.15
        ts = self.now - rng.randint(0, 90 * WINDOW_MS if late else 59_999)
        ev: dict[str, Any] = {
            "event_id": f"b{self.n}",
            "ts": ts,
            "product_id": pid,
            "kind": rng.choice(KINDS),
        }
        if ev["kind"] == "purchase":
            ev["qty"] = rng.choice((1, 1, 2, 7, 1_000_000))
            ev["price"] = rng.choice(PRICES)
        return ev

    def batch(self) -> None:
        """One engine batch: some products get a few events, then each is written once."""
        rng = self.rng
        self.now += rng.choice((0, 0, WINDOW_MS, 3 * WINDOW_MS, 20 * WINDOW_MS))
        for pid in rng.sample(self.ids, rng.randint(1, len(self.ids))):
            state = self.states.get(pid)
            if state is None:
                state = ProductState(pid)
            elif rng.random() < 0.3:  # evicted from the engine's cache: read back
                state = ProductState.from_bytes(state.to_bytes())
            events = [self.event(pid) for _ in range(rng.randint(1, 4))]
            for ev in events:
                if "warehouse" in ev:
                    state.apply_inventory(ev, RULES)
                else:
                    state.apply_behavior(ev, RULES)
            self.states[pid] = state
            self.index.put(state, events)


def answer_top(
    index: ViewIndex, metric: str, since: int, minutes: int, n: int, min_base: int
) -> list[dict[str, Any]]:
    """What /_hunt/local/top answers from one index: ranked items, then their series."""
    out = []
    for item, summary in indexed_top(index, metric, since, n, min_base):
        item["series"] = series_of(summary, metric, since, minutes)
        out.append(item)
    return out


def check(shop: Shop, rng: random.Random) -> None:
    states = list(shop.states.values())
    newest = max(s.last_event_ts or T0 for s in states)
    for _ in range(6):
        metric = rng.choice(METRICS)
        minutes = rng.choice((1, 2, 15, 60, 61, 90, 1440))
        since = top_since(newest + rng.choice((0, 0, -30, 30)) * WINDOW_MS, minutes)
        n = rng.choice((1, 2, 3, 10, MAX_N))
        min_base = rng.choice((1, 1, 2, 5, 10**9))
        want = local_top(states, metric, since, minutes, n, min_base)
        assert answer_top(shop.index, metric, since, minutes, n, min_base) == want
    for n in (1, 4, MAX_N):
        assert indexed_stock(shop.index, n) == local_stock(states, LOW_MINUTES, n)


@pytest.mark.parametrize("seed", range(12))
def test_answers_equal_a_pass_over_every_state_as_products_change(seed: int) -> None:
    shop = Shop(seed, products=40)
    rng = random.Random(seed + 1000)
    for k in range(30):
        shop.batch()
        if k % 3 == 2:
            check(shop, rng)


def test_an_index_loaded_from_stored_states_answers_as_one_fed_by_writes() -> None:
    shop = Shop(7, products=60)
    for _ in range(25):
        shop.batch()
    loaded = ViewIndex(1 << 40, LOW_MINUTES)
    for state in shop.states.values():
        loaded.load(ProductState.from_bytes(state.to_bytes()))
    since = top_since(shop.now, 15)
    for metric in METRICS:
        want = answer_top(shop.index, metric, since, 15, MAX_N, 1)
        assert answer_top(loaded, metric, since, 15, MAX_N, 1) == want
    assert indexed_stock(loaded, MAX_N) == indexed_stock(shop.index, MAX_N)
    # Loading a product already known replaces it.
    for state in list(shop.states.values())[:10]:
        loaded.load(state)
    assert answer_top(loaded, "units", since, 15, MAX_N, 1) == answer_top(
        shop.index, "units", since, 15, MAX_N, 1
    )
    assert loaded.nbytes == shop.index.nbytes


def test_removed_products_leave_every_answer() -> None:
    shop = Shop(3, products=30)
    for _ in range(20):
        shop.batch()
    rng = random.Random(4)
    for pid in rng.sample(shop.ids, 20):
        shop.index.remove(pid)
        del shop.states[pid]
        check(shop, rng)
    for pid in list(shop.states):
        shop.index.remove(pid)
    assert len(shop.index) == 0 and shop.index.nbytes == 0
    assert all(not b for b in shop.index.buckets)
    assert answer_top(shop.index, "views", -(2**63), 60, MAX_N, 1) == []
    assert indexed_stock(shop.index, MAX_N) == {"low": [], "out": []}


def _huge(pid: str, views: int, minute: int, extra_windows: int = 0) -> ProductState:
    """A product whose windows hold counters near the contract's 64-bit bound."""
    s = ProductState(pid)
    for m in range(extra_windows + 1):
        ev = {"event_id": f"v{m}", "ts": T0 + (minute - m) * WINDOW_MS, "product_id": pid}
        s.apply_behavior({**ev, "kind": "view"}, RULES)
    for w in s.windows.values():
        w[VIEWS] = views // (extra_windows + 1)
    return ProductState.from_bytes(s.to_bytes())


def test_huge_counters_and_ties_rank_as_the_scan_ranks_them() -> None:
    big = 2**63 - 1
    states = [
        _huge("a", big, 10),
        _huge("b", big, 10),  # a tie with a: the smaller id first
        _huge("c", big - 1, 10),  # the same float as big: ties too
        _huge("d", big, 10, extra_windows=60),  # spread over 61 windows, most old
        _huge("e", 2**53 + 1, 0),  # only old windows for a recent `since`
        _huge("f", 1, 10),
        _huge("g", 0, 10),  # a value of 0 is left out
    ]
    index = ViewIndex(1 << 40, LOW_MINUTES)
    for s in states:
        index.load(s)
    for minutes in (1, 5, 61, 1440):
        since = top_since(T0 + 10 * WINDOW_MS, minutes)
        for n in (1, 2, 3, MAX_N):
            want = local_top(states, "views", since, minutes, n)
            assert answer_top(index, "views", since, minutes, n, 1) == want
            assert all(item["product_id"] != "g" for item in want)


def test_bucket_bounds_every_key_in_it_and_rises_with_the_key() -> None:
    keys = [*range(0, 300), *(2**k + d for k in range(8, 64) for d in (-1, 0, 1)), 2**63 - 1]
    keys.sort()
    for a, b in itertools.pairwise(keys):
        assert bucket(a) <= bucket(b)
    for key in keys:
        b = bucket(key)
        assert key <= bucket_max(b) and bucket(bucket_max(b)) == b
        assert bucket(bucket_max(b) + 1) == b + 1 or bucket(bucket_max(b) + 1) > b
        assert bucket_max(b) <= max(31, key * 17 // 16)  # within 1/16 above the key


def test_an_index_past_its_share_empties_itself_and_is_never_ready() -> None:
    views = ViewIndexes(limit_bytes=PRODUCT_BYTES * 5, low_minutes=LOW_MINUTES)
    index = views.open(0)
    shop = Shop(1, products=20)
    shop.index = index
    shop.batch()
    shop.batch()
    assert index.full and len(index) == 0 and index.nbytes == 0
    assert views.writer(0) is None and views.full(0)
    assert not views.finish(0, index) and views.ready(0) is None


def test_an_index_is_ready_once_finished_and_gone_once_dropped() -> None:
    views = ViewIndexes(limit_bytes=1 << 30, low_minutes=LOW_MINUTES)
    index = views.open(3)
    assert views.open(3) is index and views.writer(3) is index and views.ready(3) is None
    assert views.finish(3, index) and views.ready(3) is index
    views.drop({3})
    assert views.ready(3) is None and views.writer(3) is None
    assert not views.finish(3, index)  # a build that outlived its partition is not kept
    fresh = views.open(3)
    assert fresh is not index and views.partitions() == {3}
    views.clear()
    assert views.partitions() == set()


def test_memory_stated_per_product_is_what_the_summary_counts() -> None:
    shop = Shop(5, products=10)
    for _ in range(10):
        shop.batch()
    for pid, summary in shop.index.products.items():
        windows = len(shop.states[pid].windows)
        texts = sum(49 + len(t) for t in summary.revenue if t != "0")
        assert summary.nbytes == PRODUCT_BYTES + windows * WINDOW_BYTES + texts
    assert shop.index.nbytes == sum(s.nbytes for s in shop.index.products.values())


def _hour_of_traffic(pid: str, rng: random.Random) -> tuple[ProductState, int]:
    """A product with 61 windows of views, carts and purchases; and its newest minute."""
    s = ProductState(pid)
    n = 0
    for m in range(61):
        for kind in ("view", "view", "cart_add", "purchase"):
            n += 1
            ev: dict[str, Any] = {
                "event_id": f"b{n}",
                "ts": T0 + m * WINDOW_MS,
                "product_id": pid,
                "kind": kind,
            }
            if kind == "purchase":
                ev.update(qty=rng.randint(1, 5), price=19.99)
            s.apply_behavior(ev, RULES)
    return s, 60


def _measure() -> None:  # pragma: no cover - a tool, run by hand
    rng = random.Random(0)
    templates = [_hour_of_traffic(f"t{i}", rng)[0].to_bytes() for i in range(20)]
    count = 10_000
    states = []
    for i in range(count):
        raw = templates[i % len(templates)].replace(b'"p":"t', b'"p":"p-%05d-' % i, 1)
        states.append(ProductState.from_bytes(raw))
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    index = ViewIndex(1 << 40, LOW_MINUTES)
    for s in states:
        index.load(s)
    used = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    print(
        f"memory: {used / count:.0f} B per product with 61 windows (tracemalloc); "
        f"stated {index.nbytes / count:.0f} B"
    )
    empty = ViewIndex(1 << 40, LOW_MINUTES)
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    for i in range(count):
        empty.products[f"p-{i:05d}"] = ProductSummary(f"p-{i:05d}")
    print(f"memory: {(tracemalloc.get_traced_memory()[0] - before) / count:.0f} B per summary")
    tracemalloc.stop()
    # The hook: one event in the newest window of a product with 61 windows, per write;
    # and one that also moves the newest window (a window expires, another starts).
    for label, step in (("same window", 0), ("next window", WINDOW_MS)):
        batches = []
        for k, s in enumerate(states[:5000]):
            ev = {
                "event_id": f"x{k}",
                "ts": T0 + 60 * WINDOW_MS + step,
                "product_id": s.product_id,
                "kind": "view",
            }
            s.apply_behavior(ev, RULES)
            batches.append((s, [ev]))
        t = time.thread_time()
        for s, events in batches:
            index.put(s, events)
        per = (time.thread_time() - t) / len(batches)
        print(f"hook ({label}): {per * 1e6:.2f} us of CPU per touched product")
    for minutes in (15, 60):
        since = top_since(T0 + 61 * WINDOW_MS, minutes)
        for metric in ("units", "revenue", "view_to_cart"):
            for when in ("after 5k writes", "again"):
                t = time.thread_time()
                answer_top(index, metric, since, minutes, 10, 1)
                ms = (time.thread_time() - t) * 1e3
                print(f"top {metric} {minutes} min n=10 over {count}, {when}: {ms:.2f} ms CPU")


if __name__ == "__main__":
    _measure()
